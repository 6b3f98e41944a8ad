import pytest


# Fixtures that check the submission and find it wanting: the student's failure, shown to them.
@pytest.fixture
def broken_setup():
    raise AssertionError("fixture exploded during setup")


@pytest.fixture
def broken_teardown():
    yield 1
    raise AssertionError("fixture exploded during teardown")
