"""Family 2: the Dense layer (beras/layers.py) [bonus questions 2-4].

Layers are built with the weights the test chose (`probes.layer_with`), so that the
student's initializer, a separate part with its own tests, is not needed here.
"""
import numpy as np
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given
from hypothesis import strategies as st

import judge
import numerics as M
import strategies as S
from autograder.sandbox import StudentError
from replies import fetch
from feedback import Check, Hint, choose, code_block, expect, expect_close, fail, gradient_list, show
from shapes import is_per_sample_copy, note_unusual, shared_gradient


def build(beras, worker_side, case):
    dense = worker_side("probes").layer_with(beras.layers.Dense, w=case["w"], b=case["b"])
    return dense


def shapes_text(case):
    n, m = case["x"].shape
    return f"N={n}, m={m}, r={case['w'].shape[1]}"


@weight(3)
@number("2.1")
@visibility("visible")
@tags("dense", "forward")
@given(case=S.dense_case())
def test_dense_forward(beras, worker_side, case):
    """Dense forward x @ w + b"""
    dense = build(beras, worker_side, case)
    x, w, b = case["x"], case["w"], case["b"]
    returned = fetch(dense(x), (x.shape[0], w.shape[1]))
    # float32 inside is allowed: then each entry is exact only up to the rounding of its terms
    float32 = M.float32_sum_of_products(np.abs(x) @ np.abs(w) + np.abs(b), terms=x.shape[1])
    expect_close("`Dense.forward(x)` equals `x @ w + b`, shape (N, r).",
                 expected=judge.value("dense", x, w, b), returned=returned, what="Dense(x)",
                 inputs={"x": x, "w": w, "b": b}, **M.tolerance_for(returned, M.VALUE, float32),
                 mistakes={Hint("missing-term", "you left out the bias `b`."): judge.value("dense_without_bias", x, w, b),
                           Hint("wrong-formula", "you added the bias twice."): judge.value("dense_bias_twice", x, w, b)})


def weight_gradient_shapes_ok(dW, db, n, m, r):
    """Shapes the given compose combines like the usual ones (shapes.py): dW per sample,
    (N, m, r) or (N, m, 1); db shared, anything that broadcasts to b's (1, r)."""
    dW_ok = dW.ndim == 3 and dW.shape[0] == n and dW.shape[1] == m and dW.shape[2] in (1, r)
    db_ok = shared_gradient(db, (1, r), n).shape == (1, r)
    return dW_ok, db_ok


@weight(2)
@number("2.2")
@visibility("visible")
@tags("dense", "gradients", "bonus-2", "bonus-3")
@given(case=S.dense_case())
def test_dense_gradient_shapes(beras, worker_side, add_output, case):
    """Dense gradient shapes [bonus 2, 3]"""
    x, w, b, J = case["x"], case["w"], case["b"], case["J"]
    n, m = x.shape
    r = w.shape[1]
    dense = build(beras, worker_side, case)
    dense(x)
    inputs = {"x": x, "w": w, "b": b}

    prop = "`get_input_gradients()` is `[w]`: one (m, r) Jacobian shared by the batch."
    returned = fetch(dense.get_input_gradients(), (n, m, r))  # w, or w per sample
    expect(not (isinstance(returned, np.ndarray) and returned.shape == w.shape), prop, inputs=inputs,
           detail=f"`get_input_gradients()` must return a list; yours returned an ndarray of shape {w.shape}.",
           hint=Hint("wrong-type", "return `[w]`, a list with one Jacobian per input: the given "
                                   "compose_input_gradients iterates over that list."))
    grads = gradient_list(returned, 1, "get_input_gradients()", prop, inputs)
    jacobian = judge.value("dense_input_jacobian", x, w, b)
    if is_per_sample_copy(grads[0], w.shape, n):  # w once per sample: the given compose uses g[b] = w
        jacobian = judge.apply(lambda v: np.broadcast_to(v, (n, *w.shape)), jacobian)
    expect_close(prop, expected=jacobian, returned=grads[0],
                 what="get_input_gradients()[0]", inputs=inputs,
                 **M.VALUE, hint=Hint("reminder", "dy/dx of the layer's output is w itself, the same for every sample."))

    prop = ("`get_weight_gradients()` is `[dW, db]` with dW of shape (N, m, r) or (N, m, 1) holding "
            "x[b, i] at [b, i, j], and db ones of shape (1, r) or (r,).")
    returned = fetch(dense.get_weight_gradients(), (n, m, r), (n, 1, r))  # the largest shapes accepted
    dW, db = (np.asarray(g, dtype=float) for g in
              gradient_list(returned, 2, "get_weight_gradients()", prop, inputs)[:2])
    dW_ok, db_ok = weight_gradient_shapes_ok(dW, db, n, m, r)
    if dW.ndim == 3 and dW.shape[0] == n and dW.shape[2] == m and dW.shape[1] in (1, r) and m not in (1, r):
        dW_hint = Hint("transpose", "dW's last two axes are swapped: sample b's dW has x[b] as a COLUMN, "
                                    "shape (m, 1) or (m, r), as in `x[:, :, np.newaxis]`.")
    elif dW.ndim == 2 and dW.shape in ((m, r), (m, 1)):
        dW_hint = Hint("shape", "dW has no batch axis: return one dW per sample, shape (N, m, 1) or (N, m, r); "
                                "compose_weight_gradients sums over the batch.")
    else:
        dW_hint = Hint("reminder", "dW is per sample: dy[b, j] / dw[i, j] = x[b, i]. Try `x[:, :, np.newaxis]`.")
    expect(dW_ok, prop, inputs=inputs,
           detail=f"dW has shape {dW.shape}; expected ({n}, {m}, {r}) or ({n}, {m}, 1) ({shapes_text(case)}).",
           hint=dW_hint)
    expect_close(prop, expected=judge.apply(lambda v: np.broadcast_to(v, (n, m, dW.shape[2])),
                                          judge.value("dense_weight_jacobian", x, w, b)), returned=dW,
                 what="dW", inputs=inputs, **M.VALUE)
    expect(db_ok, prop, inputs=inputs, detail=f"db has shape {db.shape}; expected (1, {r}) or ({r},).",
           hint=Hint("reminder", "db is ones shaped like b."))
    bias_jacobian = judge.apply(lambda v: np.reshape(v, (1, r)), judge.value("dense_bias_jacobian", x, w, b))
    db_shape, db = db.shape, shared_gradient(db, (1, r), n)  # e.g. (1,) or (r,): the given compose broadcasts it against J[b]
    expect_close(prop, expected=bias_jacobian, returned=db, what="db", inputs=inputs, **M.VALUE,
                 mistakes={Hint("batch-mean", f"db is N = {n} everywhere: you summed over the batch already, and "
                                              "compose_weight_gradients sums again. db is ones, as for one sample."):
                           judge.apply(lambda v: n * v, bias_jacobian)} if n > 1 else None)

    prop = "`compose_input_gradients([J])` is shaped like x, (N, m); `compose_weight_gradients([J])` like w and b."
    inputs = {**inputs, "J": J}
    composed = gradient_list(fetch(dense.compose_input_gradients([J]), (n, m)), 1, "compose_input_gradients([J])",
                             prop, inputs)
    expect(np.shape(composed[0]) == (n, m), prop, inputs=inputs,
           detail=f"compose_input_gradients([J])[0] has shape {np.shape(composed[0])}; expected {(n, m)}.")
    composed = gradient_list(fetch(dense.compose_weight_gradients([J]), w.shape, b.shape), 2,
                             "compose_weight_gradients([J])", prop, inputs)
    expect(np.shape(composed[0]) == (m, r) and np.size(composed[1]) == r, prop, inputs=inputs,
           detail=f"compose_weight_gradients([J]) has shapes {[np.shape(c) for c in composed]}; "
                  f"expected [{(m, r)}, {b.shape}].")
    # Unusual shapes that the compose code combined like the usual ones: accepted, with a note.
    if is_per_sample_copy(grads[0], w.shape, n):
        note_unusual(add_output, "get_input_gradients()[0]", np.shape(grads[0]), w.shape)
    if db_shape not in ((1, r), (r,)):
        note_unusual(add_output, "db", db_shape, (1, r))


@weight(2)
@number("2.3")
@visibility("visible")
@tags("dense", "gradients", "bonus-4")
@given(case=S.dense_case())
def test_dense_composed_input_gradient(beras, worker_side, case):
    """Dense composed input gradient = J @ w.T = FD [bonus 4]"""
    x, w, b, J = case["x"], case["w"], case["b"], case["J"]
    dense = build(beras, worker_side, case)
    dense(x)
    inputs = {"x": x, "w": w, "b": b, "J (upstream)": J}
    prop = ("`compose_input_gradients([J])[0]` is d<x @ w + b, J>/dx: it equals `J @ w.T` "
            "and the finite differences of the layer's formula.")
    expected = judge.vjp_fd("dense", x, w, b, upstream=J, wrt=0)
    got = gradient_list(fetch(dense.compose_input_gradients([J]), x.shape), 1, "compose_input_gradients([J])", prop, inputs)[0]
    expect_close(prop, expected=expected, returned=got, what="compose_input_gradients([J])[0]",
                 inputs=inputs, batch=x.shape[0], **M.GRADIENT)


@weight(2)
@number("2.4")
@visibility("visible")
@tags("dense", "gradients", "bonus-4")
@given(case=S.dense_case())
def test_dense_composed_weight_gradients(beras, worker_side, case):
    """Dense composed weight gradients = x.T @ J, J.sum(0) = FD [bonus 4]"""
    x, w, b, J = case["x"], case["w"], case["b"], case["J"]
    dense = build(beras, worker_side, case)
    dense(x)
    inputs = {"x": x, "w": w, "b": b, "J (upstream)": J}
    got = gradient_list(fetch(dense.compose_weight_gradients([J]), w.shape, b.shape), 2, "compose_weight_gradients([J])",
                        "compose_weight_gradients returns [dL/dw, dL/db].", inputs)
    expect_close("`compose_weight_gradients([J])[0]` is d<x @ w + b, J>/dw: it equals `x.T @ J` "
                 "and the finite differences of the layer's formula.",
                 expected=judge.vjp_fd("dense", x, w, b, upstream=J, wrt=1), returned=got[0],
                 what="compose_weight_gradients([J])[0]", inputs=inputs, batch=x.shape[0], **M.GRADIENT,
                 hint=Hint("reminder", "dW of sample b is x[b] (as a column) broadcast against J[b]; the compose "
                                       "sums over the batch."))
    db_expected = judge.vjp_fd("dense", x, w, b, upstream=J, wrt=2)
    if judge.known(db_expected) and np.size(got[1]) == db_expected.size:  # (1, r) or (r,): both are fine
        db_expected = db_expected.reshape(np.shape(got[1]))
    expect_close("`compose_weight_gradients([J])[1]` is d<x @ w + b, J>/db: it equals `J.sum(0)`, shaped like b.",
                 expected=db_expected, returned=got[1], what="compose_weight_gradients([J])[1]",
                 inputs=inputs, batch=x.shape[0], **M.GRADIENT,
                 hint=Hint("reminder", "db is ones: each output j moves by exactly b[j]."))


# Statistical checks of the initializers. Each (initializer, shape) draws n = 120,000 weights.
# Each check allows 6 standard errors: for a correct initializer a check fails with
# probability about 2e-9 (normal approximation; n is large), so the 18 checks below fail a
# correct solution with probability under 1e-7 in total. numpy's global generator is seeded
# in the worker so that a grade never changes between runs; a student's own generator
# (np.random.default_rng()) is unseeded, and the rate above is what bounds it.
INIT_SHAPES = ((600, 200), (200, 600))
Z = 6.0
ONE_SIGMA_MASS = 0.6826894921370859  # P(|X| < sigma) for a normal X


# What each standard deviation a hint recognises is, in the order of judge's
# "initializer_std_candidates" (never the formula itself: a hint guides, it hands over no line).
STD_CANDIDATES = ("xavier's (it depends on both m and r)", "kaiming's (it depends on the input size m only)",
                  "one that uses the output size r where the input size m belongs",
                  "one with 1 where the numerator needs 2 (input size m only)",
                  "one with 1 where the numerator needs 2 (both sizes)", "the plain normal's, 1",
                  "an operator-precedence slip: r is added outside the fraction",
                  "that of uniform draws from [-1, 1]")
# The kind of mistake each wrong standard deviation is (the others: a wrong input to the formula).
STD_KINDS = {"an operator-precedence slip: r is added outside the fraction": "wrong-formula",
             "that of uniform draws from [-1, 1]": "wrong-formula"}
NEEDS = {"normal": "standard deviation 1", "xavier": "a standard deviation that depends on both m and r",
         "kaiming": "a standard deviation that depends on the input size m only"}
UNIFORM_RATIO = 1 / np.sqrt(3)  # the std of uniform draws from [-s, s] is s / sqrt(3)


def std_hint(name, std, sigma, n, stds):
    """A hint from the measured standard deviation: another initializer's or a known slip's,
    or 1/sqrt(3) of the right one (uniform draws where a normal was asked); None otherwise."""
    looks_like = [k for k, v in stds.items() if abs(std - v) < Z * v / np.sqrt(2 * n)]
    if looks_like and looks_like[0] != STD_CANDIDATES[0 if name == "xavier" else 1 if name == "kaiming" else 5]:
        return Hint(STD_KINDS.get(looks_like[0], "wrong-input"),
                    f"your standard deviation looks like {looks_like[0]}; \"{name}\" needs {NEEDS[name]}.")
    uniform = sigma * UNIFORM_RATIO
    if abs(std - uniform) < Z * uniform / np.sqrt(2 * n):
        return Hint("wrong-formula", f"your standard deviation is 1/sqrt(3) of the one \"{name}\" needs, which is "
                                     f"what uniform draws between -std and +std give: draw from a normal "
                                     f"distribution with that standard deviation.")
    # A power of the right one (when it is not 1, whose powers are all 1).
    for power, what in ((2, "the SQUARE of the one \"{name}\" needs: you used the variance where the standard "
                            "deviation (its square root) belongs"),
                        (0.5, "the square root of the one \"{name}\" needs: a square root taken twice?")):
        wanted = sigma ** power
        if abs(np.log(sigma)) > 0.1 and abs(std - wanted) < Z * wanted / np.sqrt(2 * n):
            return Hint("wrong-formula", f"your standard deviation {std:.4g} is {what.format(name=name)}.")
    return None


def distribution_hint(w):
    """What the histogram of the weights shows, when it is not a normal one: evenly spread
    between two bounds (uniform draws), said with the bounds observed."""
    w = np.asarray(w, dtype=float).reshape(-1)
    low, high = float(w.min()), float(w.max())
    if high <= low:
        return None
    # Uniform draws fill [low, high] evenly: every tenth of the range holds about a tenth.
    counts, _ = np.histogram(w, bins=10, range=(low, high))
    if np.all(np.abs(counts / w.size - 0.1) < Z * np.sqrt(0.09 / w.size)):
        digits = max(0, int(-np.floor(np.log10(high - low)))) + 2
        return Hint("wrong-formula", f"your weights are spread evenly between {low:.{digits}f} and {high:.{digits}f} (uniform "
                                     f"draws); a normal draw gathers them around 0 and thins out to both sides.",
                    shows=("distribution",))
    return None


@weight(2)
@number("2.5")
@visibility("visible")
@tags("dense", "initializers")
def test_dense_initializer_statistics(beras, student):
    """initializer statistics (normal, xavier, kaiming)"""
    student.import_module("numpy.random").seed(25)  # the same draws on every run of the grader
    Dense = beras.layers.Dense
    checks = []
    for name in ("normal", "xavier", "kaiming"):
        for m, r in INIT_SHAPES:
            w, b = (np.asarray(v, dtype=float) for v in fetch(Dense._initialize_weight(name, m, r), (m, r), (1, r)))
            inputs = {"initializer": name, "input_size m": m, "output_size r": r}
            expect(w.shape == (m, r), f"`_initialize_weight` returns w of shape (m, r).", inputs=inputs,
                   detail=f"w has shape {w.shape}; expected {(m, r)}.")
            expect(b.shape in ((1, r), (r,)) and not np.any(b), "The bias starts at zero, shape (1, r).",
                   inputs=inputs, detail=f"b has shape {b.shape} and max |b| = {np.max(np.abs(b)) if b.size else 0:g}.")
            checks += initializer_checks(name, w, inputs)
    choose(checks)


def initializer_checks(name, w, inputs):
    """Three sub-checks of one draw, each of one cause: its scale, its centre, its shape."""
    m, r = w.shape
    sigma = judge.value("initializer_std", name, m, r)
    n = w.size
    mean, std = float(w.mean()), float(w.std())
    stds = dict(zip(STD_CANDIDATES, judge.value("initializer_std_candidates", m, r)))

    def scale(title, hint):
        expect(abs(std - sigma) < Z * sigma / np.sqrt(2 * n), title, inputs=inputs,
               detail=f"The sample standard deviation is {std:.5g}.", hint=std_hint(name, std, sigma, n, stds))

    def centre(title, hint):
        expect(abs(mean) < Z * sigma / np.sqrt(n), title, inputs=inputs,
               detail=f"The sample mean of {n:,} weights is {mean:.5g}; allowed |mean| < {Z * sigma / np.sqrt(n):.3g}.")

    def shape(title, hint):
        # Measured against the weights' own mean and spread: this checks the shape of the
        # distribution only, whatever its scale (which `scale` checks).
        inside = float(np.mean(np.abs(w - mean) < std))
        se = np.sqrt((ONE_SIGMA_MASS - ONE_SIGMA_MASS ** 2) / n)  # binomial p (1 - p) / n
        expect(abs(inside - ONE_SIGMA_MASS) < Z * se, title, inputs=inputs,
               detail=f"{inside:.2%} lie within one standard deviation of their mean.",
               hint=distribution_hint(w))

    return [Check(f"\"{name}\" weights have standard deviation {sigma:.5g} (checked within 6 standard errors).",
                  scale),
            Check(f"\"{name}\" weights have mean 0 (checked within 6 standard errors).", centre),
            Check(f"\"{name}\" weights are normally distributed: 68.3% lie within one standard deviation of "
                  f"their mean.", shape, cause="distribution",
                  neutral=f"\"{name}\" weights are spread like normal draws: 68.3% lie within one standard "
                          f"deviation of their mean.")]


@weight(1)
@number("2.6")
@visibility("visible")
@tags("dense", "initializers")
@given(m=S.dim(), r=S.dim(), name=st.sampled_from(["he", "glorot", "", "uniform", "gaussian"]))
def test_dense_zero_initializer_and_unknown_names(beras, m, r, name):
    """"zero" initializer; unknown names raise"""
    Dense = beras.layers.Dense
    w, b = (np.asarray(v, dtype=float) for v in fetch(Dense._initialize_weight("zero", m, r), (m, r), (1, r)))
    inputs = {"input_size m": m, "output_size r": r}
    expect(w.shape == (m, r) and not np.any(w) and b.shape in ((1, r), (r,)) and not np.any(b),
           "\"zero\" gives w = zeros (m, r) and b = zeros (1, r).", inputs=inputs,
           detail="Returned:\n\n" + code_block(f"w =\n{show(w)}\nb =\n{show(b)}"))
    try:
        returned = fetch(Dense._initialize_weight(name, m, r), (m, r), (1, r))
    except StudentError:
        return
    fail("An unknown initializer name is an error.", inputs={**inputs, "initializer": name},
         detail=f"`_initialize_weight({name!r}, {m}, {r})` returned `{show(returned)}` instead of raising.",
         hint=Hint("missing-error", "end the chain of `if`/`elif` with an `else: raise ValueError(...)` "
                                    "naming the valid choices."))
