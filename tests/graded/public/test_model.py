"""Family 8: Model and SequentialModel (beras/model.py).

Models are made of test-provided layers, loss, metric and optimizer (worker_side/probes.py,
none of them a homework part),
and train with a test-provided tape (a subclass of the student's GradientTape whose `gradient`
is ours, put where model.py imports it: worker_side/replay_tape.py, central differences of
replayed forward passes), so that only the student's model code is graded here.
"""
import numpy as np
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given
from hypothesis import strategies as st

import numerics as M
import strategies as S
from replies import fetch
from feedback import REMINDER, Hint, code_block, expect, expect_close, rests_on, show


def log_cosh(pred, target):
    """The probes' loss (probes.LogCosh): sum(log(cosh(pred - target))) / N."""
    d = pred - target
    return float(np.sum(np.logaddexp(d, -d) - np.log(2.0)) / d.shape[0])


def gate(x, w, c):
    """The probes' layer (probes.Gate)."""
    return (x @ w) * c


GATE_MODEL = "SequentialModel([Gate(w, c)]): (x @ w) * c, loss sum(log(cosh(. - y))) / N"


def compiled(beras, worker_side, layers, learning_rate=0.1):
    # The tape is graded in 7.x, not here: the model trains through a tape of ours that records
    # the calls and differentiates by replaying them (worker_side/replay_tape.py: no answer).
    worker_side("replay_tape").use_replay_tape(beras.gradient_tape, beras.model)
    probes = worker_side("probes")
    model = beras.model.SequentialModel(layers)
    optimizer = probes.SignDescent(learning_rate)
    model.compile(optimizer=optimizer, loss_fn=probes.LogCosh(), acc_fn=probes.LabelScore())
    return model, optimizer


@st.composite
def linear_model_case(draw):
    n, m, r = draw(S.dim(1, 6)), draw(S.dim(1, 4)), draw(S.dim(2, 4))
    return {"x": draw(S.array((n, m))), "w": draw(S.array((m, r))), "c": draw(S.array((1, r))),
            "y": draw(S.one_hot(n, r))}


@weight(1)
@number("8.1")
@visibility("visible")
@rests_on("tensor", "weighted")
@tags("model")
@given(count=S.dim(1, 4))
def test_model_weights_in_layer_order(beras, worker_side, student, count):
    """Model.weights in layer order"""
    probes = worker_side("probes")
    layers = []
    for i in range(count):
        layers.append(probes.Gate(np.full((2, 2), float(i)), np.full((1, 2), float(i))))
        layers.append(probes.Tanh())
    layers.append(probes.Scale(np.ones((1, 2))))
    model = beras.model.SequentialModel(layers)
    ids = worker_side("tensors").ids
    expected = []
    for layer in layers:
        expected += fetch(ids(layer.weights))
    got = fetch(ids(model.weights))
    builtins = student.import_module("builtins")
    weights = model.weights
    nested = got != expected and any(fetch(builtins.isinstance(weights[i], (builtins.list, builtins.tuple)))
                                     for i in range(len(got)))
    expect(got == expected,
           "`Model.weights` lists every layer's weights, layer by layer in order, as the same objects.",
           inputs={"layers": " -> ".join(["Gate(w, c) -> Tanh"] * count + ["Scale(s)"])},
           detail=f"Expected {len(expected)} weights in layer order; got {len(got)}"
                  + ("" if set(got) == set(expected) else " (some are not the layers' own weight objects)") + ".",
           hint=Hint("shape", "your list holds each layer's list of weights: concatenate `layer.weights` for "
                              "layer in `self.layers` into one flat list.") if nested else
           Hint(REMINDER, "concatenate `layer.weights` for layer in `self.layers`; do not copy them."))


@weight(2)
@number("8.2")
@visibility("visible")
@rests_on("tensor", "weighted")
@tags("model")
@given(case=linear_model_case())
def test_batch_step_returns_and_updates(beras, worker_side, case):
    """batch_step returns and updates"""
    x, w, c, y = case["x"], case["w"], case["c"], case["y"]
    probes = worker_side("probes")
    layer = probes.Gate(w, c)
    model, optimizer = compiled(beras, worker_side, [layer])
    inputs = {"x": x, "w": w, "c": c, "y": y, "model": GATE_MODEL}
    pred = gate(x, w, c)
    loss, acc = log_cosh(pred, y), float(np.mean(np.sum(pred * y, axis=1)))  # probes.LabelScore

    result = fetch(model.batch_step(x, y, training=False), y.shape)  # the stats, and the predictions
    prop = "`batch_step(x, y, training=False)` returns `({\"loss\", \"acc\"}, predictions)` and changes nothing."
    expect(isinstance(result, (list, tuple)) and len(result) == 2 and isinstance(result[0], dict), prop,
           inputs=inputs, detail=f"Returned `{show(result)}`.")
    stats, predictions = result
    expect({"loss", "acc"} <= set(stats), prop, inputs=inputs, detail=f"The dict has keys {sorted(stats)}.")
    expect_close(prop, expected=pred, returned=predictions, what="predictions", inputs=inputs, **M.VALUE)
    expect_close(prop, expected=[loss, acc], returned=[np.mean(stats["loss"]), np.mean(stats["acc"])],
                 what="[loss, acc]", inputs=inputs, **M.VALUE)
    expect(fetch(optimizer.calls) == 0, prop, inputs=inputs, detail="The optimizer was called.",
           hint=Hint("training-mode", "apply gradients only when training is True."))

    stats = fetch(model.batch_step(x, y, training=True), y.shape)
    prop = ("`batch_step(x, y, training=True)` returns `{\"loss\", \"acc\"}` (before the update) and applies the "
            "gradients to the model's trainable variables once.")
    expect(isinstance(stats, dict) and {"loss", "acc"} <= set(stats), prop, inputs=inputs,
           detail=f"Returned `{show(stats)}`.",
           hint=Hint("missing-return", "did you forget to `return` the stats when training?") if stats is None else None)
    expect_close(prop, expected=[loss, acc], returned=[np.mean(stats["loss"]), np.mean(stats["acc"])],
                 what="[loss, acc]", inputs=inputs, **M.VALUE)
    received = fetch(optimizer.received)
    weight_ids = fetch(worker_side("tensors").ids([layer.w, layer.c]))
    expect(len(received) == 1 and sorted(received[0]) == sorted(weight_ids), prop, inputs=inputs,
           detail=f"The optimizer was called {len(received)} time(s)"
                  + (f" with {len(received[0])} parameter(s)" if received else "") + "; expected once, with w and c.",
           hint=Hint(REMINDER, "pass `self.trainable_variables` and the tape's gradients for them to "
                               "`self.optimizer.apply_gradients`."))


@st.composite
def two_layer_case(draw):
    n, m, h, r = draw(S.dim(1, 5)), draw(S.dim(1, 4)), draw(S.dim(1, 4)), draw(S.dim(2, 4))
    return {"x": draw(S.array((n, m))), "w1": draw(S.array((m, h))), "c1": draw(S.array((1, h))),
            "w2": draw(S.array((h, r))), "c2": draw(S.array((1, r))), "y": draw(S.one_hot(n, r)),
            "frozen layer": draw(st.sampled_from(["first", "second"]))}


@weight(1)
@number("8.6")
@visibility("visible")
@rests_on("tensor", "weighted")
@tags("model")
@given(case=two_layer_case())
def test_batch_step_leaves_frozen_layers_alone(beras, worker_side, case):
    """`batch_step` trains only the trainable variables (a frozen layer stays)"""
    probes = worker_side("probes")
    layers = [probes.Gate(case["w1"], case["c1"]), probes.Gate(case["w2"], case["c2"])]
    frozen, frozen_names = (layers[0], ("w1", "c1")) if case["frozen layer"] == "first" else (layers[1], ("w2", "c2"))
    for variable in (frozen.w, frozen.c):  # the flag itself, not the student's `trainable` setter
        variable.trainable = False
    model, optimizer = compiled(beras, worker_side, layers)
    ids = worker_side("tensors").ids
    trainable = fetch(ids(model.trainable_variables))
    names = dict(zip(fetch(ids([layers[0].w, layers[0].c, layers[1].w, layers[1].c])), ["w1", "c1", "w2", "c2"]))
    model.batch_step(case["x"], case["y"], training=True)
    received = fetch(optimizer.received)
    inputs = {**case, "model": "SequentialModel([Gate(w1, c1), Gate(w2, c2)]): (x @ w) * c each, "
                               "loss sum(log(cosh(. - y))) / N"}
    prop = ("`batch_step(x, y, training=True)` hands the optimizer the model's `trainable_variables`, so the "
            "weights of a layer whose `trainable` is False do not change.")
    expect(len(received) == 1 and sorted(received[0]) == sorted(trainable), prop, inputs=inputs,
           detail=(f"The optimizer was called {len(received)} time(s)"
                   + (f", with {[names.get(i, '?') for i in received[0]]}" if received else "")
                   + f"; expected once, with {[names.get(i, '?') for i in trainable]}."),
           hint=(Hint("trainable-flag", "apply the gradients of `self.trainable_variables`, not of `self.weights`.")
                 if received and {names.get(i) for i in received[0]} & set(frozen_names) else None))
    if not {names.get(i) for i in trainable} & set(frozen_names):  # else the student's Weighted is at fault
        after = fetch(probes.values_of([frozen.w, frozen.c]), *(case[name].shape for name in frozen_names))
        expect(all(np.array_equal(value, case[name]) for value, name in zip(after, frozen_names)), prop,
               inputs=inputs, detail=f"The frozen {case['frozen layer']} layer's weights changed.",
               hint=Hint(REMINDER, "only the optimizer may change weights, and only those it is given."))


@weight(2)
@number("8.3")
@visibility("visible")
@rests_on("tensor", "weighted")
@tags("model", "fit")
@given(n=S.dim(1, 12), batch_size=S.dim(1, 5), epochs=S.dim(1, 3))
def test_fit_visits_every_example_once_per_epoch(beras, worker_side, n, batch_size, epochs):
    """fit trains on every example once per epoch (last partial batch)"""
    probes = worker_side("probes")
    width = 2
    x = np.column_stack([np.arange(n, dtype=float), np.zeros(n)])  # column 0 names the example
    y = np.zeros((n, width))
    recorder = probes.RecordingShift(width)
    model, _ = compiled(beras, worker_side, [recorder], learning_rate=0.0)
    history = fetch(model.fit(x, y, epochs=epochs, batch_size=batch_size))
    trained_on = fetch(recorder.batches(), (epochs * n, x.shape[1]))  # each row once per epoch
    batches = [np.asarray(batch)[:, 0].round().astype(int).tolist() for batch in trained_on]
    inputs = {"number of examples": n, "batch_size": batch_size, "epochs": epochs}
    prop = ("`fit` trains on every example exactly once per epoch, in batches of at most batch_size "
            "(the last one may be smaller).")
    sizes = [len(batch) for batch in batches]
    expect(all(size <= batch_size for size in sizes), prop, inputs=inputs,
           detail=f"Batch sizes trained on: {sizes}.")
    seen = [i for batch in batches for i in batch]
    for epoch in range(epochs):
        part = sorted(seen[epoch * n:(epoch + 1) * n])
        missing = sorted(set(range(n)) - set(part))
        expect(part == list(range(n)), prop, inputs=inputs,
               detail=f"Epoch {epoch + 1} trained on examples {part}"
                      + (f"; never on {missing}" if missing else "") + f". Batches: {batches}.",
               hint=(Hint("partial-batch", "the last, partial batch is missing: use ceil(N / batch_size) batches.")
                     if n % batch_size and missing == list(range(n - n % batch_size, n)) else None))
    expect(len(seen) == epochs * n, prop, inputs=inputs,
           detail=f"{len(seen)} examples were trained on in total; expected {epochs} x {n}. Batches: {batches}.")
    per_batch = epochs * -(-n // batch_size)  # real fits record every epoch or every batch
    expect(isinstance(history, dict) and all(len(np.atleast_1d(history.get(k, []))) in (epochs, per_batch)
                                             for k in ("loss", "acc")),
           "`fit` returns {\"loss\": [...], \"acc\": [...]} with one value per epoch (or one per batch).",
           inputs=inputs, detail=f"Returned `{show(history)}`.")


def every_row(predictions):
    """The predictions as one array: a list of every batch's predictions (2-D each) is
    concatenated, since it holds a prediction for every row too."""
    if isinstance(predictions, (list, tuple)) and predictions and all(np.ndim(p) == 2 for p in predictions):
        try:
            return np.concatenate([np.asarray(p, dtype=float) for p in predictions])
        except (TypeError, ValueError):
            pass
    return predictions


@weight(2)
@number("8.4")
@visibility("visible")
@rests_on("tensor", "weighted")
@tags("model", "evaluate")
@given(case=linear_model_case(), batch_size=S.dim(1, 4))
def test_evaluate_predicts_every_row_and_changes_nothing(beras, worker_side, case, batch_size):
    """evaluate predicts every row, changes nothing"""
    x, w, c, y = case["x"], case["w"], case["c"], case["y"]
    probes = worker_side("probes")
    layer = probes.Gate(w, c)
    model, optimizer = compiled(beras, worker_side, [layer])
    inputs = {"x": x, "w": w, "c": c, "y": y, "batch_size": batch_size, "model": GATE_MODEL}
    result = fetch(model.evaluate(x, y, batch_size=batch_size), y.shape)  # the metrics, maybe the predictions
    # The handouts say only "the metrics are returned": the metrics dict alone, or with the predictions.
    prop = ("`evaluate(x, y, batch_size)` returns the metrics `{\"loss\", \"acc\"}`, or "
            "`({\"loss\", \"acc\"}, predictions for every row)`.")
    with_predictions = isinstance(result, (list, tuple)) and len(result) == 2 and isinstance(result[0], dict)
    expect(with_predictions or isinstance(result, dict), prop, inputs=inputs, detail=f"Returned `{show(result)}`.")
    stats = result[0] if with_predictions else result
    expect({"loss", "acc"} <= set(stats) and all(np.all(np.isfinite(stats[k])) for k in ("loss", "acc")),
           prop, inputs=inputs, detail=f"The dict is `{show(stats)}`.")
    # Changed weights first: they also change the predictions, and are then the real mistake.
    after = fetch(worker_side("probes").values_of([layer.w, layer.c]), w.shape, c.shape)
    expect(np.array_equal(after[0], w) and np.array_equal(after[1], c) and fetch(optimizer.calls) == 0,
           "`evaluate` does not change the weights.", inputs=inputs,
           detail="After evaluate, w =\n\n" + code_block(show(np.asarray(after[0]))),
           hint=Hint("training-mode", "call batch_step with training=False."))
    if with_predictions:
        predictions = every_row(result[1])
        expect_close(prop, expected=gate(x, w, c), returned=predictions, what="predictions", inputs=inputs, **M.VALUE,
                     hint=(Hint("partial-batch", "concatenate the predictions of every batch, including the last "
                                                 "partial one.")
                           if np.ndim(predictions) and 0 < len(predictions) < len(x) and len(x) % batch_size
                           and len(predictions) == len(x) - len(x) % batch_size else None))


@weight(2)
@number("8.5")
@visibility("visible")
@rests_on("tensor", "weighted")
@tags("model", "fit")
def test_fit_lowers_the_loss(beras, worker_side):
    """fit lowers the loss"""
    rng = np.random.default_rng(5)  # fixed data: a regression the model can fit exactly
    x = rng.normal(size=(40, 3))
    w_true, c_true = rng.normal(size=(3, 2)), np.array([[1.5, -0.5]])
    y = gate(x, w_true, c_true)
    probes = worker_side("probes")
    layer = probes.Gate(np.zeros((3, 2)), np.ones((1, 2)))
    model, _ = compiled(beras, worker_side, [layer], learning_rate=0.05)
    history = fetch(model.fit(x, y, epochs=5, batch_size=8))
    w, c = (np.asarray(v) for v in fetch(probes.values_of([layer.w, layer.c]), (3, 2), (1, 2)))
    before, after = log_cosh(np.zeros_like(y), y), log_cosh(gate(x, w, c), y)
    inputs = {"data": "40 examples, y = (x @ w_true) * c_true, 3 inputs, 2 outputs",
              "model": "SequentialModel([Gate(w, c)]) from w = 0, c = 1; sign descent, steps of 0.05; "
                       "loss sum(log(cosh(. - y))) / N",
              "fit": "epochs=5, batch_size=8"}
    expect(after < 0.5 * before, "A few epochs of `fit` on a learnable problem lower the loss.", inputs=inputs,
           detail=f"Loss before fit {before:.5g}, after {after:.5g}.",
           hint=(Hint("tape-recording", "the weights never changed: each batch must run forward under the tape "
                                        "(calling each layer, so the tape records it), then apply the gradients of "
                                        "the loss.") if not np.any(w) and np.all(c == 1) else None))
    losses = np.asarray(history.get("loss", []) if isinstance(history, dict) else [], dtype=float)
    # One value per epoch, or one per batch (5 batches of 8): compare the first and last epochs.
    epochs = losses.reshape(5, -1).mean(axis=1) if losses.shape in ((5,), (25,)) else None
    expect(epochs is not None and epochs[-1] < epochs[0],
           "The loss history `fit` returns (one value per epoch, or per batch) goes down.",
           inputs=inputs, detail=f"history[\"loss\"] = `{show(losses)}`.")
