"""MNIST for the end-to-end test, loaded in the TRUSTED process.

The loading code is the handout's own: the given functions of student_template/preprocess.py,
loaded by file path (that file imports beras only inside load_and_preprocess_data, which is
not used here). The student's copy of preprocess.py is never run on this side.

The split is the handout's: the four MNIST files when present; with only the test files
(as in CI), their first 8,000 images train and the last 2,000 test; with no MNIST at all,
scikit-learn's digits (the data's `source` says so, and so does every message).
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import NamedTuple

import numpy as np

HANDOUT_PREPROCESS = Path(__file__).resolve().parents[2] / "student_template" / "preprocess.py"
CLASSES = 10


class Split(NamedTuple):
    train_x: np.ndarray  # float32 (N, 784) in [0, 1]
    train_y: np.ndarray  # int64 (N,)
    test_x: np.ndarray
    test_y: np.ndarray   # never sent to the worker
    source: str
    is_mnist: bool


def handout_preprocess():
    spec = importlib.util.spec_from_file_location("handout_preprocess", HANDOUT_PREPROCESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flatten(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(255)


@functools.lru_cache(maxsize=1)
def training_split() -> Split:
    data = handout_preprocess().load_mnist_arrays()
    return Split(flatten(data.train_images), np.asarray(data.train_labels, dtype=np.int64),
                 flatten(data.test_images), np.asarray(data.test_labels, dtype=np.int64),
                 data.source, not data.source.startswith("NOT MNIST"))


@functools.lru_cache(maxsize=1)
def mnist_test_labels() -> np.ndarray | None:
    """The labels of the full 10,000-image MNIST test set (what predictions.npy predicts),
    or None when no MNIST files are available."""
    module = handout_preprocess()
    directory = module.find_mnist_dir()
    if directory is None:
        return None
    path = module._idx_path(directory, module.TEST_FILES[1])
    return None if path is None else np.asarray(module.read_idx(path), dtype=np.int64)


def one_hot(labels: np.ndarray) -> np.ndarray:
    return (np.asarray(labels)[:, None] == np.arange(CLASSES)).astype(np.float32)
