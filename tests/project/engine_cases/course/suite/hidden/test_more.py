# SECRET-REFERENCE-7f3a: hidden tests must never be readable by student code.
import numpy as np
from gradescope_utils.autograder_utils.decorators import hide_errors, number, visibility, weight
from hypothesis import given, strategies as st

from autograder.sandbox import fetch


@weight(2)
@number("2.1")
@visibility("after_due_date")
@hide_errors("The mean is not right yet.")
def test_mean(student):
    """mean of [1, 2, 3, 6] is 3"""
    got = fetch(student.import_module("calc").mean(np.array([1.0, 2.0, 3.0, 6.0])))
    assert type(got) is float and got == 3.0, f"SECRET-REFERENCE-7f3a mean returned {got!r}"


@weight(1)
@number("2.2")
@visibility("hidden")
@given(a=st.integers(-10**6, 10**6), b=st.integers(-10**6, 10**6))
def test_add_many(student, a, b):
    """add agrees with + on integers"""
    got = fetch(student.import_module("calc").add(a, b))
    assert type(got) is int and got == a + b, f"`add({a}, {b})` returned `{got!r}`; expected `{a + b}`."
