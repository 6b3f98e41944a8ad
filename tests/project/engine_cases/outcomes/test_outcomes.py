"""Every pytest outcome, with gradescope-utils metadata, and no student code: the mapping
from outcomes to Gradescope tests is checked on this file (tests/project/test_plugin.py)."""
import time

import pytest
from gradescope_utils.autograder_utils.decorators import (hide_errors, leaderboard, number,
                                                          partial_credit, tags, visibility, weight)
from hypothesis import given, strategies as st


@weight(2)
@number("1")
@tags("easy", "first")
def test_passes():
    """A passing test is named by its docstring"""


@weight(3)
@number("2")
def test_fails():
    assert 1 == 2, "**Expected** `1 == 2`; see the hint."


@weight(1)
@number("3")
def test_bare_assert():
    assert False


@weight(1)
@number("4")
def test_raises_other():
    raise ValueError("operands could not be broadcast together (3,) (4,)")


@weight(2)
@number("5")
def test_setup_error(broken_setup):
    pass


@weight(2)
@number("6")
def test_teardown_error(broken_teardown):
    pass


@weight(1)
@number("7")
def test_skipped():
    pytest.skip("not today")


@weight(1)
@number("8")
@pytest.mark.xfail(reason="known bug")
def test_xfailed():
    assert False


@weight(1)
@number("9")
@pytest.mark.xfail(reason="thought broken")
def test_xpassed():
    pass


@weight(1)
@number("10")
@pytest.mark.xfail(reason="strict", strict=True)
def test_xpassed_strict():
    pass


@weight(1)
@number("11")
def test_times_out():
    time.sleep(30)


@partial_credit(4)
@number("12")
@given(x=st.integers(0, 3))
def test_partial_above_given(x, set_score):
    set_score(1.5)


@given(x=st.integers(0, 3))
@partial_credit(4)
@number("13")
def test_partial_below_given(x, set_score):
    set_score(2.5)


@partial_credit(2)
@number("14")
def test_partial_then_fails(set_score):
    set_score(1)
    assert False, "only half"


@weight(2)
@number("15")
def test_set_score_fixture_without_decorator(set_score):
    set_score(0.5)


@partial_credit(1)
@number("16")
def test_partial_nan(set_score):
    set_score(float("nan"))


@partial_credit(1)
@number("17")
def test_partial_too_much(set_score):
    set_score(7)


@leaderboard("accuracy")
@number("18")
def test_leaderboard_desc(set_leaderboard_value):
    set_leaderboard_value(0.97)


@leaderboard("seconds", "asc")
@weight(1)
@number("19")
@given(x=st.integers(0, 3))
def test_leaderboard_with_given(x, set_leaderboard_value):
    set_leaderboard_value(12)


@weight(1)
@number("20")
@hide_errors("Something is off; no details for this one.")
def test_hide_errors():
    assert False, "the secret expected value is 42"


@weight(1)
@number("21")
@visibility("hidden")
def test_hidden():
    pass


@weight(1)
@number("22")
@visibility("after_due_date")
@given(x=st.integers())
def test_visibility_with_given(x):
    assert x < 10**6, f"x = {x} is too large"


@weight(1)
@pytest.mark.parametrize("k", [1, 2])
def test_parametrized(k):
    assert k == 1, f"k = {k}"


def test_no_weight():
    pass


@weight(1)
@number("30")
def test_output_on_a_pass(add_output):
    add_output("Measured: **3 ms**, within the target.")


@weight(1)
@number("31")
def test_output_then_fails(add_output):
    add_output("Measured: 90 ms.")
    assert False, "Too slow."
