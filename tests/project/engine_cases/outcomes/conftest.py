import pytest


@pytest.fixture
def broken_setup():
    raise RuntimeError("fixture exploded during setup")


@pytest.fixture
def broken_teardown():
    yield 1
    raise RuntimeError("fixture exploded during teardown")
