"""A fixture of the grader's own that breaks (no student code involved): a grader error."""
import pytest
from gradescope_utils.autograder_utils.decorators import weight


@pytest.fixture
def our_broken_fixture():
    raise ValueError("seek of closed file")


@weight(2)
def test_fine():
    pass


@weight(3)
def test_uses_our_broken_fixture(our_broken_fixture):
    pass
