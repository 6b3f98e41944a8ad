"""MNIST files for a test of the student's loader, put in place inside the student's worker.

This file is NOT imported by the grader: its source is sent to the student's worker and run
there (see `conftest.WorkerNamespace`). It uses only the standard library and numpy, and
never imports beras, so that a test of preprocess.py depends on nothing else of the student's.

`install(files)` writes the files into a fresh directory and points BERAS_MNIST_DIR at it
(the handout's loader reads that first). Past handouts loaded MNIST with
`tensorflow.keras.datasets.mnist.load_data()` instead, and TensorFlow is not available at
grading; so that such a loader still gets its preprocessing graded, `install` also provides
that one function, reading the same files. Everything else of TensorFlow stays unavailable.
It must run before the student's preprocess.py is imported (each test has a fresh worker).
"""
import importlib.machinery
import os
import sys
import tempfile
import types

import numpy as np

PROVIDED = "keras.datasets.mnist.load_data()"
TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class ForbiddenLibraryError(AttributeError):
    # An AttributeError, like the engine's stand-ins: `from tensorflow.keras import layers`
    # probes with hasattr, then imports the submodule (the engine's stand-in, which raises on use).
    # Shown to students by its bare name, as the engine's stand-ins' error is (not as
    # `grader_mnist_files.ForbiddenLibraryError`, this namespace's name).
    __module__ = "builtins"


class MnistOnlyModule(types.ModuleType):
    """A module of the TensorFlow stand-in: its provided names work, any other raises."""

    def __getattr__(self, name):
        if name.startswith("__"):  # probes by importlib, numpy, inspect: a plain "no such attribute"
            raise AttributeError(name)
        library = self.__name__.partition(".")[0]
        raise ForbiddenLibraryError(
            f"`{self.__name__}.{name}`: {library} is not available when grading; only "
            f"`{PROVIDED}` is provided (it reads the grader's MNIST files). The rest of the "
            f"homework must be done with NumPy only.")


def read_idx(path):
    """The uint8 array in a raw IDX file."""
    with open(path, "rb") as file:
        raw = file.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


def tensorflow_like_loader(directory):
    def load_data(*args, **kwargs):
        """Like keras' mnist.load_data(): ((x_train, y_train), (x_test, y_test)), all uint8."""
        train, test = ([read_idx(os.path.join(directory, name)) for name in names]
                       for names in (TRAIN_FILES, TEST_FILES))
        return tuple(train), tuple(test)
    return load_data


def install_stand_in(top, load_data):
    """`top`, `top.datasets`, `top.datasets.mnist` (top = "keras" or "tensorflow.keras"),
    and their parents, as sys.modules entries: they take precedence over the engine's stand-in."""
    names = top.split(".") + ["datasets", "mnist"]
    parent = None
    for depth in range(1, len(names) + 1):
        name = ".".join(names[:depth])
        module = sys.modules.get(name)
        if not isinstance(module, MnistOnlyModule):
            module = MnistOnlyModule(name)
            module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
            module.__path__ = []  # a package: other submodules come from the engine's stand-in
            sys.modules[name] = module
        if parent is not None:
            setattr(parent, names[depth - 1], module)
        parent = module
    parent.load_data = load_data


def fresh_directory():
    """A directory made here, now, whose name is the same on every run: a loader that prints
    its path (the handout's does) must not make two gradings' feedback differ."""
    base = os.path.join(tempfile.gettempdir(), "grader-mnist-sample")  # the sandbox's own TMPDIR
    for attempt in range(1, 100):
        path = base if attempt == 1 else f"{base}-{attempt}"
        try:
            os.mkdir(path, 0o700)  # never an existing directory (or link) made by earlier code
            return path
        except FileExistsError:
            continue
    return tempfile.mkdtemp(prefix="grader-mnist-sample-")


def install(files):
    """Write {file name: uint8 array of its bytes} into a fresh directory, make it the one the
    handout's loader reads (BERAS_MNIST_DIR), and provide keras' mnist.load_data() on it."""
    directory = fresh_directory()
    for name, content in files.items():
        if os.path.basename(name) != name:
            raise ValueError(f"not a plain file name: {name!r}")
        with open(os.path.join(directory, name), "wb") as file:
            file.write(np.asarray(content, dtype=np.uint8).tobytes())
    os.environ["BERAS_MNIST_DIR"] = directory
    load_data = tensorflow_like_loader(directory)
    for top in ("tensorflow.keras", "keras"):
        install_stand_in(top, load_data)
    return directory
