"""Family 7: GradientTape.gradient (beras/gradient_tape.py), and seed question 5.

The layers here are test-provided Diffables with known gradients (worker_side/probes.py),
built on the student's own Diffable: only the tape is being graded. Expected gradients are
finite differences of the whole loss, computed here in float64.
"""
import numpy as np
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given
from hypothesis import strategies as st

import numerics as M
import strategies as S
from autograder.sandbox import fetch
from feedback import REMINDER, Hint, expect, expect_close, gradient_list, show


def squared_error(pred, target):
    return float(np.sum((pred - target) ** 2) / pred.shape[0])


@st.composite
def linear_case(draw):
    n, m, r = draw(S.dim(1, 5)), draw(S.dim(1, 4)), draw(S.dim(1, 4))
    order = draw(st.sampled_from([["w", "b"], ["b", "w"], ["w"], ["b"]]))
    return {"x": draw(S.array((n, m))), "w": draw(S.array((m, r))), "b": draw(S.array((1, r))),
            "target": draw(S.array((n, r))), "sources": order}


@weight(2)
@number("7.1")
@visibility("visible")
@tags("gradient-tape")
@given(case=linear_case())
def test_tape_returns_one_gradient_per_source_in_order(beras, worker_side, case):
    """tape: one gradient per source, in order, shaped like it"""
    x, w, b, t = case["x"], case["w"], case["b"], case["target"]
    probes = worker_side("probes")
    layer, loss_fn = probes.Linear(w, b), probes.SquaredError()
    with beras.gradient_tape.GradientTape() as tape:
        loss = loss_fn(layer(x), t)
    sources = [layer.w if name == "w" else layer.b for name in case["sources"]]
    grads = fetch(tape.gradient(loss, sources))
    inputs = {"x": x, "w": w, "b": b, "target": t, "sources, in this order": case["sources"],
              "model": "loss = sum((x @ w + b - target)^2) / N"}
    prop = ("`tape.gradient(loss, sources)` returns a list with one gradient per source, in the order of "
            "`sources`, each shaped like its source.")
    expect(isinstance(grads, (list, tuple)) and len(grads) == len(sources), prop, inputs=inputs,
           detail=f"Returned `{show(grads)}` for {len(sources)} source(s).", hint=not_a_list_hint(grads))
    values = {"w": (w, M.gradient_fd(lambda v: squared_error(x @ v + b, t), w)),
              "b": (b, M.gradient_fd(lambda v: squared_error(x @ w + v, t), b))}
    for position, name in enumerate(case["sources"]):
        source, expected = values[name]
        got = np.asarray(grads[position], dtype=float) if grads[position] is not None else None
        expect(got is not None and got.shape == source.shape, prop, inputs=inputs,
               detail=f"Entry {position} (for `{name}`, shape {source.shape}) is "
                      f"{'None' if got is None else f'of shape {got.shape}'}.",
               hint=Hint(REMINDER, "look each source up by `id(source)` in what the walk collected; sum the batch."))
        expect_close(prop + " The values are d loss / d source.", expected=expected, returned=got,
                     what=f"gradient {position} (for {name})", inputs=inputs, batch=x.shape[0], **M.GRADIENT,
                     mistakes={never_composed(name): np.zeros_like(expected)})


def not_a_list_hint(grads):
    """A hint when `tape.gradient` returned no list at all; None when it did."""
    if grads is None:
        return Hint("missing-return", "did you forget to `return` the gradients?")
    if isinstance(grads, dict):
        return Hint("wrong-type", "return a list with one gradient per source, in the order of `sources`, "
                                  "not the dict your walk collected.")
    return None


def never_composed(name):
    return Hint("tape-recording", f"the gradient of `{name}` is all zeros although the loss depends on it: after "
                                  "a layer's input gradients, also compose its weight gradients "
                                  "(`compose_weight_gradients`) and add them up by id(weight).")


@st.composite
def deep_case(draw):
    n, m, h, r = draw(S.dim(1, 4)), draw(S.dim(1, 4)), draw(S.dim(1, 4)), draw(S.dim(1, 3))
    return {"x": draw(S.array((n, m), -2, 2)), "w1": draw(S.array((m, h), -1, 1)),
            "b1": draw(S.array((1, h), -1, 1)), "s": draw(S.array((1, h), -2, 2)),
            "w2": draw(S.array((h, r), -1, 1)), "b2": draw(S.array((1, r), -1, 1)),
            "target": draw(S.array((n, r), -2, 2))}


DEEP_WEIGHTS = ("w1", "b1", "s", "w2", "b2")


def deep_loss(case, **override):
    v = {**case, **override}
    hidden = np.tanh(v["x"] @ v["w1"] + v["b1"]) * v["s"]
    return squared_error(hidden @ v["w2"] + v["b2"], v["target"])


def deep_gradients(beras, probes, case):
    """The student's tape's gradients of the deep model's loss for the five weights."""
    first, tanh, scale = probes.Linear(case["w1"], case["b1"]), probes.Tanh(), probes.Scale(case["s"])
    second, loss_fn = probes.Linear(case["w2"], case["b2"]), probes.SquaredError()
    with beras.gradient_tape.GradientTape() as tape:
        loss = loss_fn(second(scale(tanh(first(case["x"])))), case["target"])
    return fetch(tape.gradient(loss, [first.w, first.b, scale.s, second.w, second.b]))


def equal_tensors(case):
    """Pairs of tensors of the deep model (weights, inputs, intermediate results) that hold
    exactly the same values: a tape that keys its dictionaries by value mixes them up."""
    h = case["x"] @ case["w1"] + case["b1"]
    named = {**{k: case[k] for k in ("x", "target") + DEEP_WEIGHTS}, "x @ w1 + b1": h, "tanh(x @ w1 + b1)": np.tanh(h),
             "tanh(x @ w1 + b1) * s": np.tanh(h) * case["s"]}
    names = list(named)
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
            if np.shape(named[a]) == np.shape(named[b]) and np.array_equal(named[a], named[b])]


def keyed_by_value_hint(beras, probes, case):
    """When tensors of this case hold equal values, the same model with every value made
    distinct: if the tape is right there, it mixes up equal tensors (state keyed by value)."""
    pairs = equal_tensors(case)
    if not pairs:
        return None
    rng = np.random.default_rng(7)
    distinct = {**case, **{k: case[k] + rng.uniform(0.01, 0.02, np.shape(case[k])) for k in ("x",) + DEEP_WEIGHTS}}
    if equal_tensors(distinct):
        return None
    try:
        grads = deep_gradients(beras, probes, distinct)
        right = all(np.allclose(np.asarray(grads[i], dtype=float),
                                M.gradient_fd(lambda v: deep_loss(distinct, **{name: v}), distinct[name]),
                                rtol=1e-4, atol=1e-6) for i, name in enumerate(DEEP_WEIGHTS))
    except Exception:  # the student's code fails there too: something else is wrong
        return None
    if not right:
        return None
    a, b = pairs[0]
    return Hint("state-shared", f"`{a}` and `{b}` hold exactly the same values here, and the gradients are wrong "
                                f"only then (with all values distinct they are right): key the tape's "
                                f"dictionaries by id(tensor), not by the tensor's value.")


@weight(4)
@number("7.2")
@visibility("visible")
@tags("gradient-tape", "q5")
@given(case=deep_case())
def test_q5_every_weight_gets_its_gradient(beras, worker_side, case):
    """[Q5] every weight gets its gradient = FD of the whole loss"""
    probes = worker_side("probes")
    grads = deep_gradients(beras, probes, case)
    sources = DEEP_WEIGHTS
    inputs = {**case, "model": "Linear(w1, b1) -> tanh -> * s -> Linear(w2, b2) -> sum((. - target)^2) / N",
              "sources": list(DEEP_WEIGHTS)}
    prop = ("[Q5] Every trainable weight of the model gets its gradient from the tape, and each equals the "
            "finite differences of the whole loss.")
    expect(isinstance(grads, (list, tuple)) and len(grads) == len(sources), prop, inputs=inputs,
           detail=f"Returned `{show(grads)}` for {len(sources)} sources.", hint=not_a_list_hint(grads))
    for position, name in enumerate(DEEP_WEIGHTS):
        got = grads[position]
        expect(got is not None, prop, inputs=inputs, detail=f"The gradient of `{name}` is None.",
               hint=Hint("tape-recording", "after the input gradients of a layer, also compose its weight "
                                           "gradients, for every layer the walk reaches."))
        expected = M.gradient_fd(lambda v: deep_loss(case, **{name: v}), case[name])
        try:
            close = np.shape(got) == np.shape(expected) and np.allclose(np.asarray(got, dtype=float), expected,
                                                                         **M.GRADIENT)
        except (TypeError, ValueError):  # not numbers: expect_close says so
            close = True
        expect_close(prop, expected=expected, returned=got, what=f"the gradient of {name}", inputs=inputs,
                     **M.GRADIENT,
                     mistakes={never_composed(name): np.zeros_like(expected)},
                     hint=(None if close else keyed_by_value_hint(beras, probes, case))
                     or Hint(REMINDER, "each layer must receive the upstream gradient of ITS OWN output (the "
                                       "composed input gradient of the layer after it), keyed by id(tensor)."))


@weight(1)
@number("7.3")
@visibility("visible")
@tags("gradient-tape")
@given(case=linear_case())
def test_tape_gradient_for_an_input_tensor(beras, worker_side, case):
    """tape: the gradient with respect to an input tensor"""
    # Until 2026-11 this test graded the nested-tape RuntimeError: given code (GradientTape's
    # __enter__), which differs by term. It now grades the student's `gradient` on a source
    # that is an input, not a weight (the walk collects those too).
    x, w, b, t = case["x"], case["w"], case["b"], case["target"]
    probes = worker_side("probes")
    layer, loss_fn = probes.Linear(w, b), probes.SquaredError()
    x_in_worker = probes.kept(x)  # the very object the layer reads, so that it can be a source
    with beras.gradient_tape.GradientTape() as tape:
        loss = loss_fn(layer(x_in_worker), t)
    grads = fetch(tape.gradient(loss, [x_in_worker]))
    inputs = {"x": x, "w": w, "b": b, "target": t, "sources": ["x"],
              "model": "loss = sum((x @ w + b - target)^2) / N"}
    expected = M.gradient_fd(lambda v: squared_error(v @ w + b, t), x)
    prop = ("`tape.gradient(loss, [x])` for an input x (not a weight) is d loss / d x: the walk back "
            "collects the gradient of every tensor it passes.")
    expect_close(prop, expected=expected,
                 returned=gradient_list(grads, 1, "tape.gradient(loss, [x])", prop, inputs)[0],
                 what="tape.gradient(loss, [x])[0]", inputs=inputs, **M.GRADIENT,
                 hint=Hint(REMINDER, "keep the composed input gradient of each layer's inputs, keyed by "
                                             "id(input), as well as the weights' gradients."))
