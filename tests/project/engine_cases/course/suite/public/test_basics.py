import numpy as np
from gradescope_utils.autograder_utils.decorators import leaderboard, number, partial_credit, tags, weight
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from autograder.sandbox import fetch


def is_number(x):
    return type(x) in (int, float) and np.isfinite(x)


@weight(1)
@number("1.1")
@tags("arithmetic")
def test_add(student):
    """add(2, 3) is 5"""
    got = fetch(student.import_module("calc").add(2, 3))
    assert is_number(got) and got == 5, f"`add(2, 3)` returned `{got!r}`; expected `5`."


@weight(2)
@number("1.2")
@given(x=arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 4)),
                elements=st.floats(-100, 100)))
def test_scale(student, x):
    """scale(x, 2) doubles every entry"""
    got = fetch(student.import_module("calc").scale(x, 2))
    assert type(got) is np.ndarray and got.shape == x.shape and np.array_equal(got, 2 * x), (
        f"For x of shape {x.shape}, `scale(x, 2)` returned {got!r}; expected {2 * x!r}.")


@weight(1)
@number("1.3")
def test_counter_keeps_identity(student):
    """A Counter counts its own increments"""
    calc = student.import_module("calc")
    counter = calc.Counter()
    counter.inc()
    counter.inc()
    got = fetch(counter.value)
    assert got == 2 and is_number(got), f"After two `inc()` calls `value` is `{got!r}`; expected `2`."


@partial_credit(2)
@number("1.4")
def test_partial(student, set_score):
    """One point each for add and scale"""
    calc = student.import_module("calc")
    earned = 0.0
    try:
        if fetch(calc.add(1, 1)) == 2:
            earned += 1
        got = fetch(calc.scale(np.ones(3), 3))
        if type(got) is np.ndarray and np.array_equal(got, np.full(3, 3.0)):
            earned += 1
    finally:
        set_score(earned)
    assert earned == 2, f"{earned:g} of 2 checks passed."


@leaderboard("speed", "asc")
@number("1.5")
def test_leaderboard(student, set_leaderboard_value):
    """Leaderboard: the SPEED constant"""
    speed = fetch(student.import_module("calc").SPEED)
    assert is_number(speed), "`SPEED` must be a number."
    set_leaderboard_value(speed)


@weight(1)
@number("1.6")
def test_vec_norm(student):
    """norm([3, 4]) is 5"""
    got = fetch(student.import_module("calc.vec").norm(np.array([3.0, 4.0])))
    assert is_number(got) and abs(got - 5) < 1e-9, f"`norm([3, 4])` returned `{got!r}`; expected `5`."
