"""Shared fixtures of the project's own tests. Keep each small; add yours below."""
import importlib.util
import os
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REFERENCE_DIR = PROJECT_ROOT / "reference"
TEMPLATE_DIR = PROJECT_ROOT / "student_template"


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def template_dir() -> Path:
    return TEMPLATE_DIR


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST files named by BERAS_MNIST_DIR (CI sets it); fails, never skips, without them."""
    named = os.environ.get("BERAS_MNIST_DIR")
    if not named:
        pytest.fail("BERAS_MNIST_DIR is not set: point it at a directory of MNIST IDX files "
                    "(CI uses ../shared/data/mnist)")
    if not (Path(named) / "t10k-images-idx3-ubyte.gz").is_file() and not (Path(named) / "t10k-images-idx3-ubyte").is_file():
        pytest.fail(f"BERAS_MNIST_DIR={named} holds no t10k-images-idx3-ubyte(.gz)")
    return Path(named)


def load_module_from(path: Path, name: str):
    """Import one file as a module under a private name, without touching sys.path."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REFERENCE_MODULES = ("beras", "preprocess", "assignment", "committee")


def _forget_reference_modules():
    for name in list(sys.modules):
        if name.split(".")[0] in REFERENCE_MODULES:
            del sys.modules[name]


@pytest.fixture(scope="module")
def reference_beras():
    """The reference's `beras` package (its preprocess, assignment, committee importable too).

    Imported in this (trusted) test process for one test module, then forgotten again so that
    no other test sees it; handouts and submissions only ever run in subprocesses.
    """
    _forget_reference_modules()
    sys.path.insert(0, str(REFERENCE_DIR))
    try:
        import beras
        yield beras
    finally:
        sys.path.remove(str(REFERENCE_DIR))
        _forget_reference_modules()


@pytest.fixture(scope="session")
def reference_preprocess():
    """reference/preprocess.py, loaded by path as graders load it (no beras needed)."""
    return load_module_from(REFERENCE_DIR / "preprocess.py", "reference_preprocess")
