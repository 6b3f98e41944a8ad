import pytest
from gradescope_utils.autograder_utils.decorators import partial_credit, weight

import a_module_that_does_not_exist  # noqa: F401  (the collection error)


@weight(2)
def test_a():
    pass


@weight(1.5)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_b(n):
    pass


@partial_credit(4)
def test_c(set_score):
    pass
