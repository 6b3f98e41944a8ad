"""Family 6: optimizers (beras/optimizers.py), and seed questions 4 and 7.

Parameters are test-provided arrays with the Variable interface (`worker_side/optimizing.py`),
so these tests need only the student's optimizers.
"""
import numpy as np
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given
from hypothesis import strategies as st

import judge
import strategies as S
from autograder.sandbox import StudentError
from replies import fetch
from feedback import NEUTRAL, OBSERVATION, Check, Hint, choose, describe_error, expect, expect_close, fail, mistake_of

# Exact sequences. Each step moves a parameter by about lr; differences of 1e-4 of a step
# come from float32 arithmetic or from where epsilon sits (Keras folds the bias correction
# into the learning rate); real mistakes (a missing bias correction, a wrong beta, state
# shared between parameters) change steps by 1% or more.
STEP_TOLERANCE = 1e-4
STEPS = 3


def gradient_arrays(shape):
    """Gradients with |g| in [0.1, 5]: the epsilon of RMSProp/Adam then changes the step by
    less than the tolerance wherever students put it (sqrt(v) + eps, or sqrt(v + eps))."""
    return S.away_from_zero(shape, margin=0.1)


@st.composite
def sequence_case(draw):
    shapes = draw(st.lists(st.tuples(S.dim(1, 3), S.dim(1, 3)), min_size=1, max_size=3))
    if len(shapes) > 1 and draw(st.booleans()):
        # Parameters of one shape, as a model's layers often have: state kept by shape (or by
        # anything but the parameter) mixes them up, which differently shaped ones never show.
        shapes[-1] = shapes[0]
    return {
        "params": [draw(S.array(s)) for s in shapes],
        "grads per step": [[draw(gradient_arrays(s)) for s in shapes] for _ in range(STEPS)],
    }


MISTAKES = {  # (optimizer, mistake): the hint shown when the student's values match it
    ("BasicOptimizer", "ascent"): Hint("sign", "you ADD lr * g: gradient descent subtracts it."),
    ("RMSProp", "betas swapped"): Hint("wrong-formula", "beta and (1 - beta) are swapped: v = beta v + (1 - beta) g^2."),
    ("RMSProp", "shared state"): Hint("state-shared", "all parameters share one v: keep v per parameter (e.g. by "
                                                      "position)."),
    ("RMSProp", "no sqrt"): Hint("wrong-formula", "divide by sqrt(v) + epsilon: your update divides by v + epsilon."),
    ("RMSProp", "epsilon inside"): Hint("epsilon-placement", "epsilon goes outside the square root: sqrt(v) + "
                                                             "epsilon, not sqrt(v + epsilon)."),
    ("Adam", "no m correction"): Hint("missing-bias-correction", "m is not bias-corrected: m_hat = m / (1 - beta_1^t)."),
    ("Adam", "no v correction"): Hint("missing-bias-correction", "v is not bias-corrected: v_hat = v / (1 - beta_2^t)."),
    ("Adam", "no correction"): Hint("missing-bias-correction", "m and v are not bias-corrected: m_hat = m / (1 - "
                                                               "beta_1^t), v_hat = v / (1 - beta_2^t)."),
    ("Adam", "shared state"): Hint("state-shared", "all parameters share one m and v: keep them per parameter (e.g. "
                                                   "by position)."),
    ("Adam", "t per parameter"): Hint("step-count", "t counts the calls of apply_gradients (once per step), not the "
                                                    "parameters: increment it once, before the loop."),
    ("Adam", "epsilon inside"): Hint("epsilon-placement", "epsilon goes outside the square root: sqrt(v_hat) + "
                                                          "epsilon, not sqrt(v_hat + epsilon)."),
}


FORMULAS = {
    "BasicOptimizer": "p -= lr * g",
    "RMSProp": "v = beta v + (1 - beta) g^2; p -= lr g / (sqrt(v) + epsilon), with v kept per parameter",
    "Adam": "t += 1; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; "
            "p -= lr m_hat / (sqrt(v_hat) + epsilon), with m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)",
}


def check_sequence(beras, worker_side, kind, hyper, case):
    params, steps = case["params"], case["grads per step"]
    helpers = worker_side("optimizing")
    remote_params = helpers.params(params)
    originals = [remote_params[i] for i in range(len(params))]
    optimizer = getattr(beras.optimizers, kind)(**hyper)
    expected = judge.value("optimizer_sequence", kind, hyper, params, steps)
    if not judge.known(expected):
        return  # student kit, an example with no recorded answer: checked on Gradescope
    wrong = {}
    for (name, mistake), hint in MISTAKES.items():
        try:
            if name == kind:
                wrong[hint] = judge.value("optimizer_sequence", kind, hyper, params, steps, mistake=mistake)
        except ValueError:  # e.g. one shared state cannot serve parameters of different shapes
            pass
    inputs = {"hyperparameters": hyper, "initial parameters": params, "gradients per step": steps}
    for step, grads in enumerate(steps):
        mixed = None
        try:
            optimizer.apply_gradients(originals, grads)
        except StudentError as error:
            if not ("could not be broadcast" in error.message and len({np.shape(p) for p in params}) > 1):
                raise
            mixed = error
        if mixed is not None:
            # Raised outside the handler: a verdict whose context held the crash would be shown
            # as that crash, without this hint (conftest.explained_crash reads the context).
            fail(f"`{kind}.apply_gradients` updates each parameter by its own gradient and state.",
                 inputs=inputs, detail=f"Step {step + 1} failed:\n\n{describe_error(mixed)}",
                 hint=Hint("state-shared", "values of two parameters of different shapes met in one "
                                           "operation: keep each parameter's state (v, m) apart, e.g. by "
                                           "position."))
        got = fetch(helpers.plain(originals), *map(np.shape, params))
        for i, (g_i, e_i) in enumerate(zip(got, expected[step])):
            observed = None
            if not close_enough(g_i, e_i, hyper):  # what the values show, looked at only when they differ
                previous = expected[step - 1][i] if step else params[i]
                observed = (negative_root_hint(kind, g_i, grads[i],
                                               first_step_at(beras, helpers, kind, hyper, params, grads, i, sign=-1))
                            or learning_rate_hint(beras, helpers, kind, hyper, params, grads, i, previous, g_i, e_i)
                            or gradient_power_hint(kind, previous, g_i, e_i, grads[i],
                                                   first_step_at(beras, helpers, kind, hyper, params, grads, i))
                            if step == 0 else forgets_state_hint(beras, helpers, kind, hyper, params, steps)) \
                    or alone_right_hint(beras, helpers, kind, hyper, params, steps, expected)
            previous = expected[step - 1][i] if step else params[i]
            expect(not (np.allclose(g_i, previous) and not np.allclose(e_i, previous)),
                   f"`{kind}.apply_gradients` updates each parameter in place.",
                   inputs=inputs,
                   detail=f"After step {step + 1}, parameter {i} still holds its old value.",
                   hint=Hint("not-in-place", "write into the parameter (`p -= ...`, `p[...] = ...` or "
                                             "`p.assign(...)`); `p = p - ...` only rebinds a local name."))
            expect_close(sequence_title(kind, len(steps)), expected=e_i, returned=g_i, what=f"parameter {i} after step {step + 1}",
                         inputs=inputs,
                         mistakes={hint: sequence[step][i] for hint, sequence in wrong.items() if judge.known(sequence)},
                         rtol=1e-6, atol=STEP_TOLERANCE * hyper["learning_rate"], ratios=False, hint=observed,
                         nonfinite_hint=observed if mistake_of(observed) not in (None, *NEUTRAL) else
                         (FIRST_STEP_DIVIDES_BY_ZERO if kind == "Adam" and step == 0 else None))


def close_enough(got, expected, hyper):
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    return got.shape == expected.shape and np.allclose(got, expected, rtol=1e-6,
                                                       atol=STEP_TOLERANCE * hyper["learning_rate"])


SECOND_MOMENT = {"RMSProp": "RMSProp's v", "Adam": "Adam's v"}


def _powers(before, got, expected, g):
    """(k per usable entry, their log|g|) with got's step = expected's step * |g|^k; None
    when the values cannot say (shapes, nan, steps of opposite signs)."""
    before, got, expected, g = (np.asarray(v, dtype=float) for v in (before, got, expected, g))
    if not (before.shape == got.shape == expected.shape == g.shape) or not np.all(np.isfinite(got)):
        return None
    taken, wanted = before - got, before - expected
    usable = (np.abs(wanted) > 1e-12) & (np.abs(np.log(np.abs(g) + 1e-300)) > 0.5)
    if not np.any(usable):
        return None
    ratio = taken[usable] / wanted[usable]
    if np.any(ratio <= 0):
        return None
    logs = np.log(np.abs(g[usable]))
    return np.log(ratio) / logs, logs


def gradient_power_hint(kind, before, got, expected, g, second=None):
    """From a first step (m and v start at 0): when the returned step is the expected one
    times |g|^k, one k for every entry, v grows like |g|^(2 - 2k) instead of g^2. Said only
    for k a multiple of 1/2 other than 0, and only when gradients of two sizes agree on it
    (entries of different sizes, or `second()` -> (before, got, expected, g) for the same
    step with larger gradients): on one size, any constant factor looks like a power."""
    if kind not in SECOND_MOMENT:
        return None
    found = _powers(before, got, expected, g)
    if found is None:
        return None
    powers, logs = found
    k = float(np.median(powers))
    half = round(2 * k) / 2
    if half == 0 or np.max(np.abs(powers - half)) > 0.03:
        return None
    if np.ptp(logs) < 0.5:  # one size of gradient: check at another
        try:
            again = _powers(*second()) if second is not None else None
        except Exception:  # noqa: BLE001 - the student's code failed there: nothing sure
            again = None
        if again is None or np.max(np.abs(again[0] - half)) > 0.03 or abs(np.median(again[1]) - np.median(logs)) < 0.5:
            return None
    grows = 2 - 2 * half
    like = "does not depend on g at all" if grows == 0 else f"grows like |g|^{grows:g}" if grows != 1 else "grows like |g|"
    return Hint("wrong-formula", f"on the first step your update is the expected one times |g|^{half:g} (the same "
                                 f"power for gradients of every size): your v {like}, where {SECOND_MOMENT[kind]} "
                                 f"accumulates the SQUARE of the gradient.")


def first_step_at(beras, helpers, kind, hyper, params, grads, i, scale=None, sign=None):
    """() -> (before, got, expected, g) for parameter i after one step of a fresh optimizer
    fed the first step's gradients times `scale` (default: 1/100 for gradients up to 1 in
    size, 100 above, so that |g| moves away from 1): the same step at another size of |g|.
    With sign=-1: the same gradients with their signs flipped instead."""
    def second():
        factor = scale or (0.01 if np.median(np.abs(np.asarray(grads[i], dtype=float))) <= 1 else 100.0)
        if sign is not None:
            factor = sign
        bigger = [factor * np.asarray(g, dtype=float) for g in grads]
        stepped = one_fresh_step(beras, helpers, kind, hyper, params, bigger)
        if stepped is None:
            return None
        expected, got = stepped
        return params[i], got[i], expected[i], bigger[i]
    return second


def one_fresh_step(beras, helpers, kind, hyper, params, grads):
    """(the parameters after one step of a fresh optimizer as the judge computes them, as the
    student's optimizer leaves them), or None where the kit has no recorded answer."""
    expected = judge.value("optimizer_sequence", kind, hyper, params, [grads])
    if not judge.known(expected):
        return None
    remote = helpers.params(params)
    originals = [remote[j] for j in range(len(params))]
    getattr(beras.optimizers, kind)(**hyper).apply_gradients(originals, grads)
    return expected[0], fetch(helpers.plain(originals), *map(np.shape, params))


def negative_root_hint(kind, got, g, flipped):
    """A first step that is nan exactly where the gradient is negative, and finite where it is
    positive (here, or on the same step with the signs flipped): a square root of a v that
    follows g's sign, i.e. v does not accumulate the square of g."""
    if kind not in SECOND_MOMENT:
        return None
    got, g = np.asarray(got, dtype=float), np.asarray(g, dtype=float)
    if got.shape != g.shape or np.all(np.isfinite(got)) or not np.array_equal(~np.isfinite(got), g < 0):
        return None
    if np.all(g < 0):  # every entry negative: nan must disappear with the signs flipped
        try:
            _, again, _, g2 = flipped()
        except Exception:  # noqa: BLE001 - the student's code failed there: nothing sure
            return None
        if not np.all(np.isfinite(np.asarray(again, dtype=float))):
            return None
    return Hint("wrong-formula", f"your first step gives nan exactly where the gradient is negative, and finite "
                                 f"values where it is positive: a square root of a negative {SECOND_MOMENT[kind]}. "
                                 f"{SECOND_MOMENT[kind]} must stay non-negative whatever the sign of g: it "
                                 f"accumulates the SQUARE of the gradient.")


def learning_rate_hint(beras, helpers, kind, hyper, params, grads, i, before, got, expected):
    """A first step that is 1/lr (or lr) times the expected one, at this learning rate and at
    another: the step does not scale with the learning rate (left out, or applied twice)."""
    def step_ratio(lr, got_i, expected_i):
        taken = np.asarray(before, dtype=float) - np.asarray(got_i, dtype=float)
        wanted = np.asarray(before, dtype=float) - np.asarray(expected_i, dtype=float)
        if taken.shape != wanted.shape or not np.all(np.isfinite(taken)) or not np.any(np.abs(wanted) > 1e-12):
            return None
        usable = np.abs(wanted) > 1e-12
        ratios = taken[usable] / wanted[usable]
        return float(np.median(ratios)) if np.allclose(ratios, np.median(ratios), rtol=1e-4) else None

    def meaning(c, lr):
        if c is not None and np.isclose(c, 1 / lr, rtol=1e-4):
            return "left out"
        if c is not None and np.isclose(c, lr, rtol=1e-4):
            return "applied twice"
        return None

    lr = hyper["learning_rate"]
    found = meaning(step_ratio(lr, got, expected), lr)
    if found is None:
        return None
    other = {**hyper, "learning_rate": lr / 4}
    try:  # the same step at another learning rate: the factor must follow it
        stepped = one_fresh_step(beras, helpers, kind, other, params, grads)
    except StudentError:
        return None
    if stepped is None:
        return None
    expected2, got2 = stepped
    if meaning(step_ratio(other["learning_rate"], got2[i], expected2[i]), other["learning_rate"]) != found:
        return None
    return Hint("constant-factor", f"your step is {'1/lr' if found == 'left out' else 'lr'} times the expected "
                                   f"one, at learning rate {lr:g} and again at {other['learning_rate']:g}: the "
                                   f"learning rate is {found} in your update.")


def forgets_state_hint(beras, helpers, kind, hyper, params, steps):
    """Adam's first step right but a later one wrong: when a step whose gradient is 0, right
    after one whose gradient was not, does not move a parameter, m was not kept between the
    calls (a kept m moves it)."""
    if kind != "Adam":
        return None
    try:
        first = [np.asarray(g, dtype=float) for g in steps[0]]
        expected = judge.value("optimizer_sequence", kind, hyper, params, [first])
        zero = [np.zeros_like(g) for g in first]
        expected_both = judge.value("optimizer_sequence", kind, hyper, params, [first, zero])
        if not (judge.known(expected) and judge.known(expected_both)):
            return None
        remote = helpers.params(params)
        originals = [remote[j] for j in range(len(params))]
        optimizer = beras.optimizers.Adam(**hyper)
        optimizer.apply_gradients(originals, first)
        after_first = fetch(helpers.plain(originals), *map(np.shape, params))
        if not all(close_enough(a, e, hyper) for a, e in zip(after_first, expected[0])):
            return None
        optimizer.apply_gradients(originals, zero)
        after_zero = fetch(helpers.plain(originals), *map(np.shape, params))
    except StudentError:
        return None
    stood = all(np.allclose(a, b, rtol=0, atol=1e-12) for a, b in zip(after_zero, after_first))
    should_move = any(not np.allclose(e, b, rtol=0, atol=1e-12) for e, b in zip(expected_both[1], expected[0]))
    if not (stood and should_move):
        return None
    return Hint("state-shared", "your first step is right, but a step with a zero gradient right after it does "
                                "not move the parameter, where the m kept from the previous step moves it: m and "
                                "v must be kept in the optimizer from one call of apply_gradients to the next.")


def zero_gradient_moves(beras, helpers, hyper, start, steps):
    """Whether a parameter whose gradient is always 0 moves when one Adam also updates another
    one (its own m stays 0, so only another parameter's m can move it)."""
    try:
        pair = helpers.params([start, start])
        optimizer = beras.optimizers.Adam(**hyper)
        for grads in steps:
            optimizer.apply_gradients([pair[0], pair[1]], [grads[0], np.zeros_like(grads[0])])
        moved = fetch(helpers.plain(pair), np.shape(start), np.shape(start))[1]
    except StudentError:
        return False
    return bool(np.all(np.isfinite(moved)) and not np.allclose(moved, start, rtol=0, atol=1e-9))


def alone_right_hint(beras, helpers, kind, hyper, params, steps, expected):
    """With several parameters: when each one, given to a fresh optimizer on its own, follows
    the rule exactly, but not together, they share state (a state per parameter fixes it)."""
    if len(params) < 2:
        return None
    try:
        for j, start in enumerate(params):
            alone = helpers.params([start])
            optimizer = getattr(beras.optimizers, kind)(**hyper)
            for step, grads in enumerate(steps):
                optimizer.apply_gradients([alone[0]], [grads[j]])
                if not close_enough(fetch(helpers.plain(alone), np.shape(start))[0], expected[step][j], hyper):
                    return None
    except StudentError:
        return None
    if kind == "Adam" and zero_gradient_moves(beras, helpers, hyper, params[0], steps):
        return Hint("state-shared", "each parameter on its own (one optimizer per parameter) follows the rule exactly, "
                                    "and with a second parameter whose gradient is always 0, that parameter moves: "
                                    "it is updated from the other one's m. Keep each parameter's m and v apart, "
                                    "e.g. by position.")
    if kind == "Adam":  # a step counter counted per parameter shows the same way
        return Hint(OBSERVATION, "each parameter on its own (one optimizer per parameter) follows the rule "
                                 "exactly, but not when one optimizer updates several: either they share m or v, "
                                 "or t counts parameters instead of calls.")
    return Hint("state-shared", "each parameter on its own (one optimizer per parameter) follows the rule exactly, "
                                "but not when one optimizer updates several: they share state. Keep each "
                                "parameter's v apart, e.g. by position.")


FIRST_STEP_DIVIDES_BY_ZERO = Hint(
    "step-count", "at the first step the bias correction divides by 1 - beta^t: with t = 0 that is 0. "
                  "Increment t BEFORE the update, so that the first step has t = 1.")


def tiny_title(kind, about_epsilon):
    return (f"`{kind}` follows its update rule ({FORMULAS[kind]}) also for tiny gradients"
            + (", where epsilon's place matters" if about_epsilon else " (|g| = 1e-3)") + " (within 1% of a step).")


def sequence_title(kind, steps=STEPS):
    return (f"`{kind}` follows its update rule ({FORMULAS[kind]}); checked after each of "
            f"{steps} steps, for every parameter.")


def check_with_moments(beras, worker_side, kind, hyper, case):
    """RMSProp and Adam: the exact sequences, and one step with tiny gradients whose title
    names epsilon's place, shown only when the values show epsilon misplaced (`choose`)."""
    choose([Check(sequence_title(kind), lambda title, hint: check_sequence(beras, worker_side, kind, hyper, case)),
            Check(tiny_title(kind, True),
                  lambda title, hint: check_tiny_gradients(beras, worker_side, kind, hyper, case["params"],
                                                           case["grads per step"][0], title),
                  cause="epsilon-placement", neutral=tiny_title(kind, False))])


def check_tiny_gradients(beras, worker_side, kind, hyper, params, signs, title):
    """One step with gradients of size 1e-3, where sqrt(v) is small enough that epsilon's place
    shows: sqrt(v + epsilon) changes the step by 5% or more; Keras' form (epsilon scaled by
    the bias correction) by at most 0.3%, within the 1% allowed here."""
    grads = [1e-3 * np.where(s < 0, -1.0, 1.0) for s in signs]
    helpers = worker_side("optimizing")
    remote = helpers.params(params)
    originals = [remote[i] for i in range(len(params))]
    getattr(beras.optimizers, kind)(**hyper).apply_gradients(originals, grads)
    got = fetch(helpers.plain(originals), *map(np.shape, params))
    expected = judge.value("optimizer_sequence", kind, hyper, params, [grads])
    if not judge.known(expected):
        return  # student kit, an example with no recorded answer: checked on Gradescope
    inside = judge.value("optimizer_sequence", kind, hyper, params, [grads], mistake="epsilon inside")
    inputs = {"hyperparameters": hyper, "initial parameters": params, "gradients": grads}
    for i, (g_i, e_i) in enumerate(zip(got, expected[0])):
        epsilon_inside = judge.apply(lambda seq: seq[0][i], inside)
        expect_close(title, expected=e_i, returned=g_i, what=f"parameter {i} after one step", inputs=inputs,
                     mistakes={MISTAKES[(kind, "epsilon inside")]: epsilon_inside},
                     hint=gradient_power_hint(kind, params[i], g_i, e_i, grads[i],
                                              first_step_at(beras, helpers, kind, hyper, params, grads, i, 100.0)),
                     rtol=1e-6, atol=1e-2 * hyper["learning_rate"], ratios=False)


@weight(2)
@number("6.1")
@visibility("visible")
@tags("optimizers", "sgd")
@given(case=sequence_case(), lr=st.sampled_from([0.1, 0.01, 0.5]))
def test_basic_optimizer_sequence(beras, worker_side, case, lr):
    """BasicOptimizer: exact 3-step sequences, in place, per parameter"""
    check_sequence(beras, worker_side, "BasicOptimizer", {"learning_rate": lr}, case)


@weight(2.5)
@number("6.2")
@visibility("visible")
@tags("optimizers", "rmsprop")
@given(case=sequence_case(), lr=st.sampled_from([0.01, 0.1]), beta=st.sampled_from([0.9, 0.5]))
def test_rmsprop_sequence(beras, worker_side, case, lr, beta):
    """RMSProp: exact 3-step sequences"""
    hyper = {"learning_rate": lr, "beta": beta, "epsilon": 1e-6}
    check_with_moments(beras, worker_side, "RMSProp", hyper, case)


@weight(2.5)
@number("6.3")
@visibility("visible")
@tags("optimizers", "adam")
@given(case=sequence_case(), lr=st.sampled_from([0.001, 0.1]),
       betas=st.sampled_from([(0.9, 0.999), (0.5, 0.9)]))
def test_adam_sequence(beras, worker_side, case, lr, betas):
    """Adam: exact 3-step sequences"""
    hyper = {"learning_rate": lr, "beta_1": betas[0], "beta_2": betas[1], "epsilon": 1e-7}
    check_with_moments(beras, worker_side, "Adam", hyper, case)


OPTIMIZERS = {  # learning rates for which each converges on the bump of question 7 (300 steps)
    "BasicOptimizer": {"learning_rate": 0.5},
    "RMSProp": {"learning_rate": 0.01},
    "Adam": {"learning_rate": 0.02},
}
MINIMUM = np.array([-1 / np.sqrt(2), 0.0])


def bump(point):
    x, y = point
    return x * np.exp(-(x * x + y * y))


@weight(1)
@number("6.4")
@visibility("visible")
@tags("optimizers", "q4")
@given(kind=st.sampled_from(sorted(OPTIMIZERS)), shape=st.tuples(S.dim(1, 4), S.dim(1, 4)), data=st.data())
def test_q4_a_small_step_against_the_gradient_lowers_the_loss(beras, worker_side, kind, shape, data):
    """[Q4] a small step against the gradient lowers the loss"""
    # Loss: sum(a * (p - c)^2) with a > 0, a bowl whose gradient is 2 a (p - c).
    a = data.draw(S.array(shape, 0.5, 2.0), label="a")
    c = data.draw(S.array(shape), label="c")
    p = data.draw(S.array(shape), label="p")
    offset = p - c
    p = np.where(np.abs(offset) < 0.1, c + 0.1, p)  # not already at the bottom
    grad = 2 * a * (p - c)
    helpers = worker_side("optimizing")
    params = helpers.params([p])
    getattr(beras.optimizers, kind)(learning_rate=1e-3).apply_gradients([params[0]], [grad])
    after = np.asarray(fetch(helpers.plain(params), shape)[0])
    loss = lambda q: float(np.sum(a * (q - c) ** 2))
    inputs = {"optimizer": f"{kind}(learning_rate=1e-3)", "p": p, "loss": "sum(a * (p - c)^2)", "a": a, "c": c}
    if np.allclose(after, p, rtol=0, atol=1e-12):
        q4_hint = Hint("not-in-place", "the parameter did not change: write into it (`p -= ...`, `p[...] = ...` "
                                       "or `p.assign(...)`); `p = p - ...` only rebinds a local name.")
    elif np.all(np.isfinite(after)) and loss(after) > loss(p) and np.all(np.sign(after - p) == np.sign(grad)):
        q4_hint = Hint("sign", "the update SUBTRACTS the (scaled) gradient: moving along +g climbs the loss.")
    else:
        q4_hint = None
    expect(loss(after) < loss(p), "[Q4] One small step against the gradient lowers the loss.", inputs=inputs,
           detail=f"Loss before the step {loss(p):.8g}, after {loss(after):.8g}; p after the step:\n{after}",
           hint=q4_hint)


@weight(2)
@number("6.5")
@visibility("visible")
@tags("optimizers", "q7")
@given(kind=st.sampled_from(sorted(OPTIMIZERS)), x=S.values(-1.4, -0.1), y=S.values(-0.8, 0.8))
def test_q7_optimizers_reach_the_minimum_of_the_bump(beras, worker_side, kind, x, y):
    """[Q7] optimizers reach (-1/√2, 0) on x·exp(-(x²+y²))"""
    optimizer = getattr(beras.optimizers, kind)(**OPTIMIZERS[kind])
    end = np.asarray(fetch(worker_side("optimizing").descend(optimizer, [x, y], 300), (2,)))
    inputs = {"optimizer": f"{kind}({OPTIMIZERS[kind]})", "start (x, y)": (x, y), "steps": 300}
    expect(end.shape == (2,) and np.all(np.isfinite(end)) and np.linalg.norm(end - MINIMUM) < 0.05,
           "[Q7] Driven by the exact gradient of z = x exp(-(x^2 + y^2)), the optimizer reaches the minimum "
           "(-1/sqrt(2), 0) from a start in its basin (within 0.05 after 300 steps).",
           inputs=inputs, detail=f"It ended at {end} (z = {bump(end) if end.shape == (2,) else 'n/a'}); the minimum "
                                 f"is {MINIMUM} (z = {bump(MINIMUM):.6f}).")


@weight(1)
@number("6.6")
@visibility("visible")
@tags("optimizers", "q7")
@given(kind=st.sampled_from(sorted(OPTIMIZERS)))
def test_q7_optimizers_do_not_move_on_a_flat_loss(beras, worker_side, kind):
    """[Q7] no move on a perfectly flat loss at (-2, 2)"""
    optimizer = getattr(beras.optimizers, kind)(**OPTIMIZERS[kind])
    start = np.array([-2.0, 2.0])
    end = np.asarray(fetch(worker_side("optimizing").descend(optimizer, start, 50, True), (2,)))
    expect(end.shape == (2,) and np.allclose(end, start, rtol=0, atol=1e-12),
           "[Q7] Where the loss is perfectly flat (gradient exactly 0, as at (-2, 2) in the question), the "
           "optimizer does not move, so it never reaches the minimum.",
           inputs={"optimizer": f"{kind}({OPTIMIZERS[kind]})", "start": start, "gradient": "0 at every step"},
           detail=f"After 50 steps with zero gradients it is at {end}.",
           hint=Hint(OBSERVATION, "with g = 0 every update must be 0; your optimizer "
                                  + ("produced nan or inf: a 0 / 0 somewhere." if not np.all(np.isfinite(end))
                                     else "moved: a step that does not depend on g?")))
    # Standing still on a flat loss is this question's point only for an optimizer that moves
    # where the loss is not flat: one that never moves gives the same answer for no reason.
    sloped = np.asarray(fetch(worker_side("optimizing").descend(getattr(beras.optimizers, kind)(**OPTIMIZERS[kind]),
                                                                start, 1), (2,)))
    expect(sloped.shape == (2,) and not np.allclose(sloped, start, rtol=0, atol=1e-12),
           "[Q7] The same optimizer moves where the gradient is not 0 (one step from (-2, 2) on x exp(-(x^2 + y^2)), "
           "whose gradient there is small but not 0).",
           inputs={"optimizer": f"{kind}({OPTIMIZERS[kind]})", "start": start, "gradient": "the exact one, 1 step"},
           detail=f"After one step it is at {sloped}: it did not move.",
           hint=Hint(OBSERVATION, "your optimizer changes nothing, even where the gradient is not 0: does it write "
                                  "into the parameters (`p -= ...`, `p[...] = ...` or `p.assign(...)`)?"))
