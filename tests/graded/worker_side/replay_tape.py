"""A test-provided GradientTape for the model tests (8.x): it replays, never chains.

This file is NOT imported by the grader: its source is sent to the student's worker and run
there (see `conftest.WorkerNamespace`), and the student kit ships it: it holds no answer. It
never asks a layer for its gradients and never walks a graph backwards (that is the tape
students write, graded in 7.x). It only:

- records, in order, every call the handout's given `Diffable.__call__` announces, by
  writing `previous_layers[id(output)] = layer` after each forward (the layer's `inputs` and
  `outputs` are set by then);
- differentiates the target by float64 central differences: each entry of each source is
  moved by +-h, and the recorded calls that lead to the target are replayed (each layer's
  own `forward`, on the replayed values of its inputs).

So the model tests train through a tape whose only bug could be ours, and a mistake in the
student's tape or gradient methods costs only their own tests. The model tests' layers and
loss are small and smooth (worker_side/probes.py), so a few dozen replays per batch are cheap.
"""
import numpy as np

from beras.core import Diffable


def step_for(value):
    """The central-difference step for an array of this dtype: cbrt(eps) balances the
    truncation error (h^2) against rounding (eps / h)."""
    dtype = np.asarray(value).dtype
    return float(np.cbrt(np.finfo(dtype if dtype.kind == "f" else np.float64).eps))


class RecordedCalls(dict):
    """previous_layers as the given __call__ fills it (a dict that answers None for an
    unknown id, like the handout's defaultdict), also keeping every call in order:
    (layer, its inputs, the ids of its outputs). The inputs are kept alive, so no id is reused."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __missing__(self, key):
        return None

    def __setitem__(self, key, layer):
        super().__setitem__(key, layer)
        outputs = getattr(layer, "outputs", None)
        last = self.calls[-1] if self.calls else None
        if last is not None and outputs is not None and last[0] is layer and last[3] is outputs and key not in last[2]:
            last[2].append(key)  # another output of the same call
            return
        self.calls.append((layer, list(getattr(layer, "inputs", []) or []), [key], outputs))


def needed_calls(calls, target):
    """Indices, in call order, of the recorded calls the target depends on."""
    made_by = {}
    for index, (_, _, output_ids, _) in enumerate(calls):
        for key in output_ids:
            made_by[key] = index  # the latest call that produced this id
    needed, queue = set(), [id(target)]
    while queue:
        index = made_by.get(queue.pop())
        if index is None or index in needed:
            continue
        needed.add(index)
        queue.extend(id(inp) for inp in calls[index][1])
    return sorted(needed)


def replay(calls, order, target):
    """The target's value when the recorded calls are run again on the current values (a
    source moved in place is seen by the layer that reads it)."""
    values = {}
    for index in order:
        layer, inputs, output_ids, _ = calls[index]
        args = [values.get(id(inp), inp) for inp in inputs]
        out = layer.forward(*args)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        for key, value in zip(output_ids, outs):
            values[key] = value
    return float(np.sum(np.asarray(values.get(id(target), target), dtype=np.float64)))


NOTICE = "grader_replay_notice"  # a test-provided layer's method the tape calls (probes.RecordingShift)


def replay_gradient(tape, target, sources):
    """d target / d source for each source, shaped like it, by central differences of replays.
    Each test-provided layer on the way to the target hears of it once per gradient, with its
    recorded inputs (NOTICE): that call trained it."""
    calls = tape.previous_layers.calls
    order = needed_calls(calls, target)
    for index in order:
        notice = getattr(calls[index][0], NOTICE, None)
        if callable(notice):
            notice(calls[index][1])
    active, Diffable.gradient_tape = Diffable.gradient_tape, None  # a replay is not recorded
    grads = []
    try:
        for source in sources:
            grad = np.zeros(np.shape(source))
            if order and isinstance(source, np.ndarray) and source.dtype.kind == "f":
                h = step_for(source)
                for idx in np.ndindex(source.shape):
                    original = source[idx].copy()
                    step = h * max(1.0, abs(float(original)))
                    try:
                        source[idx] = original + step
                        high = float(source[idx])  # as stored (float32 rounds the step)
                        up = replay(calls, order, target)
                        source[idx] = original - step
                        low = float(source[idx])
                        down = replay(calls, order, target)
                    finally:
                        source[idx] = original
                    grad[idx] = (up - down) / (high - low)
            grads.append(grad)
    finally:
        Diffable.gradient_tape = active
    return grads


def use_replay_tape(gradient_tape_module, model_module):
    """Make the student's model train with replay_gradient: a subclass of their GradientTape
    (its given __enter__/__exit__ kept) that records into RecordedCalls, put where model.py
    finds it."""
    base = gradient_tape_module.GradientTape

    class GradientTape(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.previous_layers = RecordedCalls()

        def gradient(self, target, sources):
            return replay_gradient(self, target, sources)

    for module in (gradient_tape_module, model_module):
        if getattr(module, "GradientTape", None) is base:
            module.GradientTape = GradientTape
