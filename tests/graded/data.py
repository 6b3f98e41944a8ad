"""MNIST for the end-to-end test, loaded in the TRUSTED process.

The loading code is the handout's own: the given functions of the course's handout (the
`template` of autograder.cfg, as the engine read it) preprocess.py, loaded by file path (that file imports beras only inside load_and_preprocess_data, which is
not used here). The student's copy of preprocess.py is never run on this side.

The split is the handout's: the four MNIST files when present; with only the test files
(as in CI), their first 8,000 images train and the last 2,000 test; with no MNIST at all,
scikit-learn's digits (the data's `source` says so, and so does every message).
"""
from __future__ import annotations

import functools
import importlib.util
import re
from typing import NamedTuple

import numpy as np

from autograder.plugin import active_course

CLASSES = 10


class Split(NamedTuple):
    train_x: np.ndarray  # float32 (N, 784) in [0, 1]
    train_y: np.ndarray  # int64 (N,)
    test_x: np.ndarray
    test_y: np.ndarray   # never sent to the worker
    source: str
    is_mnist: bool


def handout_preprocess():
    spec = importlib.util.spec_from_file_location("handout_preprocess", active_course().template / "preprocess.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flatten(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(255)


class Kind(NamedTuple):
    is_mnist: bool
    fallback: str | None  # None for the four MNIST files; else what grading uses instead, and why


@functools.lru_cache(maxsize=1)
def mnist_dir():
    """The folder the trusted side reads MNIST from (None: no MNIST), found once, at collection
    (through kind()): nothing a test later does to the environment can change it (in the
    benchmark-only in-process mode, student code, 13.1's loader set-up included, runs here)."""
    return handout_preprocess().find_mnist_dir()


@functools.lru_cache(maxsize=1)
def kind() -> Kind:
    """Which data training_split() will give, from the files present (none is read): the
    tests' names and the top of the results say so before anything is loaded."""
    module = handout_preprocess()
    try:
        directory = mnist_dir()
    except FileNotFoundError as error:
        return Kind(True, f"the MNIST folder is unusable ({error}); the training test will fail.")
    if directory is None:
        return Kind(False, "FALLBACK DATA: no MNIST files were found, so end-to-end training (12.1) uses "
                           "scikit-learn's 8x8 handwritten digits resized to 28x28, NOT MNIST, with lower "
                           "accuracy tiers.")
    if all(module.idx_path(directory, stem) for stem in module.TRAIN_FILES):
        return Kind(True, None)
    return Kind(True, f"FALLBACK DATA: only MNIST's test files were found, so end-to-end training (12.1) "
                      f"trains on the first {module.TEST_ONLY_TRAIN_COUNT:,} of its 10,000 test images and "
                      f"tests on the rest, not on MNIST's 60,000 training images.")


@functools.lru_cache(maxsize=1)
def training_split(train_images: int | None = None) -> Split:
    """The split; with `train_images`, only the first that many training images (flattened
    alone: 60,000 float32 images would take 188 MB of Gradescope's 768)."""
    data = handout_preprocess().load_mnist_arrays(mnist_dir())
    keep = slice(None, train_images)
    return Split(flatten(data.train_images[keep]), np.asarray(data.train_labels[keep], dtype=np.int64),
                 flatten(data.test_images), np.asarray(data.test_labels, dtype=np.int64),
                 without_paths(data.source), not data.source.startswith("NOT MNIST"))


def without_paths(text: str) -> str:
    """The handout's description of its data without the folders it read (a grading machine's
    paths mean nothing to a student): "MNIST (/data/mnist): ..." -> "MNIST: ..."."""
    return re.sub(r" ?\((?:/|[A-Za-z]:\\)[^()]*\)", "", text)


@functools.lru_cache(maxsize=1)
def mnist_test_labels() -> np.ndarray | None:
    """The labels of the full 10,000-image MNIST test set (what predictions.npy predicts),
    or None when no MNIST files are available."""
    module = handout_preprocess()
    directory = module.find_mnist_dir()
    if directory is None:
        return None
    path = module.idx_path(directory, module.TEST_FILES[1])
    return None if path is None else np.asarray(module.read_idx(path), dtype=np.int64)


def one_hot(labels: np.ndarray) -> np.ndarray:
    return (np.asarray(labels)[:, None] == np.arange(CLASSES)).astype(np.float32)
