"""Every object a graded test hands to student code honours the handout's contracts, under
each term's given code (term_profiles.py):

- a layer or loss declares each input as a named positional parameter of `forward` (the
  given `Diffable.__call__` binds positional argument i to `forward.__code__.co_varnames[i+1]`,
  so `forward(self, *inputs)` cannot take a second input), is bound with every input, and its
  gradients, raw and composed by the given per-sample code, are ndarrays (that code reads
  `.shape` and `.dtype` of each);
- a metric offers `forward` as well as `__call__` (compile types it as a Beras Callable, and
  real batch_steps call `acc_fn.forward(...)`), a committee member likewise;
- an optimizer offers `apply_gradients(trainable_params, grads)`.

Every class the worker-side files define must be listed in CASES below, so that a new
test-provided class is checked too.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest

import term_profiles

WORKER_SIDE = Path(__file__).resolve().parents[1] / "graded" / "worker_side"
N, M, R = 3, 2, 4
RNG = np.random.default_rng(17)


def a(*shape):
    return RNG.normal(size=shape)


# class name -> (kind, constructor arguments, forward's inputs)
CASES = {
    "Probe": ("base", None, None),  # abstract: its subclasses below are what tests use
    "Given": ("base", None, None),
    "Gate": ("layer", lambda: (a(M, R), a(1, R)), lambda: (a(N, M),)),
    "Tanh": ("layer", lambda: (), lambda: (a(N, M),)),
    "Scale": ("layer", lambda: (a(1, M),), lambda: (a(N, M),)),
    "RecordingShift": ("layer", lambda: (M,), lambda: (a(N, M),)),
    "LogCosh": ("loss", lambda: (), lambda: (a(N, M), a(N, M))),
    "GivenLayer": ("layer", lambda: (a(N, M), [a(N, M, M)]), lambda: (a(N, M),)),
    "GivenLoss": ("loss", lambda: (np.float64(0.5), [a(N, M), a(N, M)]), lambda: (a(N, M), a(N, M))),
    "LabelScore": ("metric", lambda: (), lambda: (a(N, M), np.eye(M)[[0, 1, 0]])),
    "GatedMember": ("callable", lambda: (a(M, R), a(1, R)), lambda: (a(N, M),)),
    "SignDescent": ("optimizer", lambda: (0.1,), None),
    "Holder": ("weights", lambda: ([a(1, 2), a(2, 1)],), None),
    "Param": ("parameter", None, None),  # optimizing.py: an ndarray with assign, made by param()
    # replay_tape.py: the model tests' tape's previous_layers, which the given __call__ fills
    "RecordedCalls": ("tape-record", None, None),
    # mnist_files.py: the stand-in for TensorFlow's MNIST loader, no Beras object
    "ForbiddenLibraryError": ("stand-in", None, None),
    "MnistOnlyModule": ("stand-in", None, None),
}


def worker_side_namespace(name: str) -> dict:
    """A worker-side file run as the grader runs it (its source exec'd), on the beras imported now."""
    namespace = {"__name__": f"grader_{name}"}
    exec(compile((WORKER_SIDE / f"{name}.py").read_text(), f"<grader: {name}.py>", "exec"), namespace)
    return namespace


def own_classes(namespace: dict) -> dict:
    return {k: v for k, v in namespace.items()
            if inspect.isclass(v) and v.__module__ == namespace["__name__"]}


@pytest.fixture(scope="module", params=term_profiles.profiles())
def profile(request, tmp_path_factory):
    folder = term_profiles.materialised(request.param, tmp_path_factory.mktemp(request.param) / "submission")
    with term_profiles.imported_beras(folder) as beras:
        namespaces = {path.stem: worker_side_namespace(path.stem) for path in sorted(WORKER_SIDE.glob("*.py"))}
        yield request.param, beras, namespaces


def test_every_test_provided_class_is_checked(profile):
    _, _, namespaces = profile
    defined = {name for ns in namespaces.values() for name in own_classes(ns)}
    assert defined <= set(CASES), f"add these test-provided classes to CASES: {sorted(defined - set(CASES))}"


def named_inputs(forward) -> list[str]:
    code = forward.__code__
    assert not code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS), \
        f"{forward.__qualname__} takes *args or **kwargs: the given __call__ binds inputs by name"
    return list(code.co_varnames[1:code.co_argcount])


def ndarrays(values, what):
    assert isinstance(values, list), f"{what} returned {type(values).__name__}, not a list"
    for i, value in enumerate(values):
        assert isinstance(value, np.ndarray), f"{what}[{i}] is {type(value).__name__}, not an ndarray"
    return values


@pytest.mark.parametrize("name", [n for n, (kind, _, _) in CASES.items() if kind in ("layer", "loss")])
def test_layers_and_losses_work_under_the_given_call(profile, name):
    term, beras, namespaces = profile
    kind, make, inputs = CASES[name]
    cls = namespaces["probes"][name]
    assert issubclass(cls, beras.core.Diffable)
    params = named_inputs(cls.forward)
    args = inputs()
    assert len(params) == len(args), f"{name}.forward names {params}; tests give it {len(args)} inputs"
    layer = cls(*make())
    with beras.gradient_tape.GradientTape() as tape:
        out = layer(*args)
    assert len(layer.inputs) == len(args) and all(i is x for i, x in zip(layer.inputs, args)), \
        f"{term}: the given __call__ bound {name}'s inputs as {layer.argnames}"
    assert tape.previous_layers[id(out)] is layer
    grads = ndarrays(layer.get_input_gradients(), f"{name}.get_input_gradients()")
    assert len(grads) == len(args)
    ndarrays(layer.get_weight_gradients(), f"{name}.get_weight_gradients()")
    if kind == "layer":
        J = [a(*np.shape(out))]
        composed = layer.compose_input_gradients(J)
        for g, x in zip(composed, args):  # the given code's list, or the (1, N, n) array of g * J
            assert isinstance(g, np.ndarray) and g.shape == x.shape
        for g, w in zip(layer.compose_weight_gradients(J), layer.weights):
            assert isinstance(g, np.ndarray) and g.shape == w.shape


def test_the_metric_and_committee_members_offer_forward(profile):
    _, _, namespaces = profile
    probes = namespaces["probes"]
    for name in ("LabelScore", "GatedMember"):
        kind, make, inputs = CASES[name]
        obj = probes[name](*make())
        assert callable(getattr(obj, "forward", None)), f"{name} has no forward: real code calls it"
        assert len(named_inputs(type(obj).forward)) == len(inputs())
        args = inputs()
        assert np.array_equal(np.asarray(obj(*args)), np.asarray(obj.forward(*args)))
    assert isinstance(probes["LabelScore"]().forward(*CASES["LabelScore"][2]()), float)


def test_the_optimizer_takes_parameters_and_gradients(profile):
    _, beras, namespaces = profile
    probes = namespaces["probes"]
    assert list(inspect.signature(probes["SignDescent"].apply_gradients).parameters) == \
        ["self", "trainable_params", "grads"]
    layer = probes["Gate"](np.zeros((M, R)), np.ones((1, R)))
    before = [np.array(w) for w in layer.weights]
    probes["SignDescent"](0.5).apply_gradients(layer.weights, [np.ones((M, R)), -np.ones((1, R))])
    assert np.allclose(layer.w, before[0] - 0.5) and np.allclose(layer.c, before[1] + 0.5)


def test_test_weights_are_variables_without_the_students_constructor(profile):
    """Under `Variable = Tensor` a Variable(...) call runs the student's Tensor constructor (a
    part graded on its own): while it is unfinished, test-provided weights are still
    Variables, flagged trainable by the given __array_finalize__."""
    _, beras, namespaces = profile
    probes = namespaces["probes"]
    original = beras.core.Tensor.__new__

    def unfinished(cls, *args, **kwargs):
        raise NotImplementedError("Tensor.__new__")

    beras.core.Tensor.__new__ = unfinished
    try:
        layer = probes["Gate"](a(M, R), a(1, R))
        holder = probes["Holder"]([a(1, 2)])
    finally:
        beras.core.Tensor.__new__ = original
    for w in layer.weights + holder.weights:
        assert isinstance(w, beras.core.Variable) and w.trainable is True


def test_the_replay_tape_records_what_the_given_call_announces(profile):
    """The model tests' tape (replay_tape.py) under each term's given code: the given __call__
    fills its previous_layers (None for an unknown id, like the handout's defaultdict), and its
    gradient of a loss through a test layer is the float64 central difference of that loss."""
    _, beras, namespaces = profile
    probes, replay = namespaces["probes"], namespaces["replay_tape"]

    class Tape(beras.gradient_tape.GradientTape):
        def __init__(self):
            super().__init__()
            self.previous_layers = replay["RecordedCalls"]()

        def gradient(self, target, sources):
            return replay["replay_gradient"](self, target, sources)

    layer, loss_fn = probes["Gate"](a(M, R), a(1, R)), probes["LogCosh"]()
    x, y = a(N, M), a(N, R)
    with Tape() as tape:
        loss = loss_fn(layer(x), y)
    assert tape.previous_layers[12345] is None and len(tape.previous_layers.calls) == 2
    [dw] = tape.gradient(loss, [layer.w])

    def value(w):
        d = (x @ w) * np.asarray(layer.c) - y
        return np.sum(np.logaddexp(d, -d) - np.log(2.0)) / N

    expected = np.zeros((M, R))
    for idx in np.ndindex(M, R):
        step = np.zeros((M, R))
        step[idx] = 1e-6
        expected[idx] = (value(np.asarray(layer.w) + step) - value(np.asarray(layer.w) - step)) / 2e-6
    assert np.allclose(dw, expected, rtol=1e-5, atol=1e-7)
