"""Three slow tests against a run budget of 3 s (test_plugin.py): the first finishes, the
second is cut when the budget ends, the third never starts; all keep their points in the maximum."""
import time

from gradescope_utils.autograder_utils.decorators import weight


@weight(1)
def test_one():
    time.sleep(2)


@weight(2)
def test_two():
    time.sleep(2)


@weight(3)
def test_three():
    time.sleep(2)
