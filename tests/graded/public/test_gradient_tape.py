"""Family 7: GradientTape.gradient (beras/gradient_tape.py), and seed question 5.

The layers here are test-provided Diffables (worker_side/probes.py), built on the student's
own Diffable, none of them a homework part: only the tape is being graded. Expected gradients
are finite differences of the whole loss, computed here in float64.
"""
import numpy as np
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given
from hypothesis import strategies as st

import numerics as M
import strategies as S
from replies import fetch
from feedback import REMINDER, Hint, expect, expect_close, gradient_list, rests_on, show


def log_cosh(pred, target):
    """The probes' loss (probes.LogCosh): sum(log(cosh(pred - target))) / N."""
    d = pred - target
    return float(np.sum(np.logaddexp(d, -d) - np.log(2.0)) / d.shape[0])


def gate(x, w, c):
    """The probes' layer (probes.Gate)."""
    return (x @ w) * c


@st.composite
def linear_case(draw):
    n, m, r = draw(S.dim(1, 5)), draw(S.dim(1, 4)), draw(S.dim(1, 4))
    order = draw(st.sampled_from([["w", "c"], ["c", "w"], ["w"], ["c"]]))
    return {"x": draw(S.array((n, m))), "w": draw(S.array((m, r))), "c": draw(S.array((1, r))),
            "target": draw(S.array((n, r))), "sources": order}


LINEAR_MODEL = "loss = sum(log(cosh((x @ w) * c - target))) / N"
DEEP_MODEL = "(x @ w1) * c1 -> tanh -> * s -> (. @ w2) * c2 -> loss sum(log(cosh(. - target))) / N"


@weight(2)
@number("7.1")
@visibility("visible")
@rests_on("tensor")
@tags("gradient-tape")
@given(case=linear_case())
def test_tape_returns_one_gradient_per_source_in_order(beras, worker_side, case):
    """tape: one gradient per source, in order, shaped like it"""
    x, w, c, t = case["x"], case["w"], case["c"], case["target"]
    probes = worker_side("probes")
    layer, loss_fn = probes.Gate(w, c), probes.LogCosh()
    with beras.gradient_tape.GradientTape() as tape:
        loss = loss_fn(layer(x), t)
    sources = [layer.w if name == "w" else layer.c for name in case["sources"]]
    grads = fetch(tape.gradient(loss, sources), *(case[name].shape for name in case["sources"]))
    inputs = {"x": x, "w": w, "c": c, "target": t, "sources, in this order": case["sources"],
              "model": LINEAR_MODEL}
    prop = ("`tape.gradient(loss, sources)` returns a list with one gradient per source, in the order of "
            "`sources`, each shaped like its source.")
    expect(isinstance(grads, (list, tuple)) and len(grads) == len(sources), prop, inputs=inputs,
           detail=f"Returned `{show(grads)}` for {len(sources)} source(s).", hint=not_a_list_hint(grads))
    values = {"w": (w, M.gradient_fd(lambda v: log_cosh(gate(x, v, c), t), w)),
              "c": (c, M.gradient_fd(lambda v: log_cosh(gate(x, w, v), t), c))}
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
    """The gradient of a weight is zero: the walk never reached its layer, or never composed
    its weight gradients; this input does not tell which."""
    return Hint("tape-recording", f"the gradient of `{name}` is all zeros although the loss depends on it: either the "
                                  "walk never reaches the layer that owns it (after a layer, queue its inputs), or "
                                  "it never composes that layer's weight gradients (`compose_weight_gradients`, "
                                  "added up by id(weight)).")


WEIGHTS_NEVER_COMPOSED = Hint("tape-recording", "the gradients reach every layer's inputs, but every weight's gradient "
                                                "is zero: after a layer's input gradients, also compose its weight "
                                                "gradients (`compose_weight_gradients`) and add them up by id(weight).")


@st.composite
def deep_case(draw):
    n, m, h, r = draw(S.dim(1, 4)), draw(S.dim(1, 4)), draw(S.dim(1, 4)), draw(S.dim(1, 3))
    return {"x": draw(S.array((n, m), -2, 2)), "w1": draw(S.array((m, h), -1, 1)),
            "c1": draw(S.array((1, h), -1, 1)), "s": draw(S.array((1, h), -2, 2)),
            "w2": draw(S.array((h, r), -1, 1)), "c2": draw(S.array((1, r), -1, 1)),
            "target": draw(S.array((n, r), -2, 2))}


DEEP_WEIGHTS = ("w1", "c1", "s", "w2", "c2")


def deep_loss(case, **override):
    v = {**case, **override}
    hidden = np.tanh(gate(v["x"], v["w1"], v["c1"])) * v["s"]
    return log_cosh(gate(hidden, v["w2"], v["c2"]), v["target"])


# The deep model's layers, from the loss back, with the weights each owns.
DEEP_LAYERS = (("the second Gate", ("w2", "c2")), ("Scale", ("s",)), ("the first Gate", ("w1", "c1")))


def walk_hint(grads, expected, probe=None):
    """What the pattern of right and missing (None or zero) gradients says about the walk:
    the layers nearest the loss right and every layer before them missing means the walk
    stopped there. When every weight's gradient is missing, `probe()` tells a walk that never
    leaves the loss from weight gradients never composed. None when nothing is sure."""
    if not isinstance(grads, (list, tuple)) or len(grads) != len(DEEP_WEIGHTS):
        return None

    def state(name):
        got = grads[DEEP_WEIGHTS.index(name)]
        if got is None:
            return "missing"
        try:
            got = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            return "other"
        if got.shape == expected[name].shape and np.allclose(got, expected[name], **M.GRADIENT):
            return "right"
        if not np.any(got) and np.any(expected[name]):
            return "missing"
        return "other"

    layers = [{state(name) for name in names} for _, names in DEEP_LAYERS]
    right = 0
    while right < len(layers) and layers[right] == {"right"}:
        right += 1
    if right == 0 and all(l == {"missing"} for l in layers) and probe is not None:
        return probe()
    if right == 0 or right == len(layers) or not all(l == {"missing"} for l in layers[right:]):
        return None
    return Hint("tape-recording", f"the weights of the layers nearest the loss (up to {DEEP_LAYERS[right - 1][0]}) get "
                                  f"the right gradients, and every layer before them none: the walk stops there. "
                                  f"After a layer, put its inputs on the queue, so that the walk goes on to the "
                                  f"layers that produced them.")


def where_the_walk_stops(beras, probes, case):
    """() -> a hint, from the tape's gradient for the hidden tensor that feeds the second Gate
    (the loss depends on it through that Gate): right means the walk reaches it, so only the
    weight gradients are missing; zero or missing means the walk never got past the loss."""
    def probe():
        first, tanh, scale = probes.Gate(case["w1"], case["c1"]), probes.Tanh(), probes.Scale(case["s"])
        second, loss_fn = probes.Gate(case["w2"], case["c2"]), probes.LogCosh()
        try:
            with beras.gradient_tape.GradientTape() as tape:
                hidden = scale(tanh(first(case["x"])))
                loss = loss_fn(second(hidden), case["target"])
            got = fetch(tape.gradient(loss, [hidden]), (len(case["x"]), case["w1"].shape[1]))
            got = np.asarray(got[0], dtype=float) if isinstance(got, (list, tuple)) and got and got[0] is not None else None
        except Exception:  # the student's code fails here too: nothing sure to say
            return None
        plain = np.tanh(gate(case["x"], case["w1"], case["c1"])) * case["s"]
        expected = M.gradient_fd(lambda v: log_cosh(gate(v, case["w2"], case["c2"]), case["target"]), plain)
        if not np.any(expected):
            return None
        if got is not None and got.shape == expected.shape and np.allclose(got, expected, **M.GRADIENT):
            return WEIGHTS_NEVER_COMPOSED
        if got is None or (got.shape == expected.shape and not np.any(got)):
            return Hint("tape-recording", "no gradient reaches any layer before the loss: the walk stops at the "
                                          "loss itself. After a layer, put its inputs on the queue, so that the "
                                          "walk goes on to the layers that produced them.")
        return None
    return probe


def deep_gradients(beras, probes, case):
    """The student's tape's gradients of the deep model's loss for the five weights."""
    first, tanh, scale = probes.Gate(case["w1"], case["c1"]), probes.Tanh(), probes.Scale(case["s"])
    second, loss_fn = probes.Gate(case["w2"], case["c2"]), probes.LogCosh()
    with beras.gradient_tape.GradientTape() as tape:
        loss = loss_fn(second(scale(tanh(first(case["x"])))), case["target"])
    return fetch(tape.gradient(loss, [first.w, first.c, scale.s, second.w, second.c]),
                 *(case[name].shape for name in DEEP_WEIGHTS))


def equal_tensors(case):
    """Pairs of tensors of the deep model (weights, inputs, intermediate results) that hold
    exactly the same values: a tape that keys its dictionaries by value mixes them up."""
    h = gate(case["x"], case["w1"], case["c1"])
    named = {**{k: case[k] for k in ("x", "target") + DEEP_WEIGHTS}, "(x @ w1) * c1": h,
             "tanh((x @ w1) * c1)": np.tanh(h), "tanh((x @ w1) * c1) * s": np.tanh(h) * case["s"]}
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
@rests_on("tensor")
@tags("gradient-tape", "q5")
@given(case=deep_case())
def test_q5_every_weight_gets_its_gradient(beras, worker_side, case):
    """[Q5] every weight gets its gradient = FD of the whole loss"""
    probes = worker_side("probes")
    grads = deep_gradients(beras, probes, case)
    sources = DEEP_WEIGHTS
    inputs = {**case, "model": DEEP_MODEL,
              "sources": list(DEEP_WEIGHTS)}
    prop = ("[Q5] Every trainable weight of the model gets its gradient from the tape, and each equals the "
            "finite differences of the whole loss.")
    expect(isinstance(grads, (list, tuple)) and len(grads) == len(sources), prop, inputs=inputs,
           detail=f"Returned `{show(grads)}` for {len(sources)} sources.", hint=not_a_list_hint(grads))
    expected_all = {name: M.gradient_fd(lambda v: deep_loss(case, **{name: v}), case[name]) for name in DEEP_WEIGHTS}
    reached = walk_hint(grads, expected_all, where_the_walk_stops(beras, probes, case))
    for position, name in enumerate(DEEP_WEIGHTS):
        got = grads[position]
        expect(got is not None, prop, inputs=inputs, detail=f"The gradient of `{name}` is None.",
               hint=reached or Hint("tape-recording", "after the input gradients of a layer, also compose its "
                                                      "weight gradients, for every layer the walk reaches."))
        expected = expected_all[name]
        try:
            close = np.shape(got) == np.shape(expected) and np.allclose(np.asarray(got, dtype=float), expected,
                                                                         **M.GRADIENT)
        except (TypeError, ValueError):  # not numbers: expect_close says so
            close = True
        # A tape that mixes up equal tensors can also return zeros; when it is right on distinct
        # values, that is the mistake, and "never composed" would be a false hint.
        keyed = None if close else keyed_by_value_hint(beras, probes, case)
        expect_close(prop, expected=expected, returned=got, what=f"the gradient of {name}", inputs=inputs,
                     **M.GRADIENT,
                     mistakes={} if keyed else {reached or never_composed(name): np.zeros_like(expected)},
                     hint=keyed or Hint(REMINDER, "each layer must receive the upstream gradient of ITS OWN output "
                                                  "(the composed input gradient of the layer after it), keyed by "
                                                  "id(tensor)."))


@weight(1)
@number("7.3")
@visibility("visible")
@rests_on("tensor")
@tags("gradient-tape")
@given(case=linear_case())
def test_tape_gradient_for_an_input_tensor(beras, worker_side, case):
    """tape: the gradient with respect to an input tensor"""
    # Until 2026-11 this test graded the nested-tape RuntimeError: given code (GradientTape's
    # __enter__), which differs by term. It now grades the student's `gradient` on a source
    # that is an input, not a weight (the walk collects those too).
    x, w, c, t = case["x"], case["w"], case["c"], case["target"]
    probes = worker_side("probes")
    layer, loss_fn = probes.Gate(w, c), probes.LogCosh()
    x_in_worker = probes.kept(x)  # the very object the layer reads, so that it can be a source
    with beras.gradient_tape.GradientTape() as tape:
        loss = loss_fn(layer(x_in_worker), t)
    grads = fetch(tape.gradient(loss, [x_in_worker]), x.shape)
    inputs = {"x": x, "w": w, "c": c, "target": t, "sources": ["x"], "model": LINEAR_MODEL}
    expected = M.gradient_fd(lambda v: log_cosh(gate(v, w, c), t), x)
    prop = ("`tape.gradient(loss, [x])` for an input x (not a weight) is d loss / d x: the walk back "
            "collects the gradient of every tensor it passes.")
    expect_close(prop, expected=expected,
                 returned=gradient_list(grads, 1, "tape.gradient(loss, [x])", prop, inputs)[0],
                 what="tape.gradient(loss, [x])[0]", inputs=inputs, **M.GRADIENT,
                 hint=Hint(REMINDER, "keep the composed input gradient of each layer's inputs, keyed by "
                                             "id(input), as well as the weights' gradients."))
