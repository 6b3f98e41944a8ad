"""MNIST's IDX file format, written: the files a test hands to the student's loader.

An IDX file is a big-endian header (magic 0x000008DD: unsigned bytes, DD dimensions; then
each dimension as a 32-bit integer) followed by the values, row-major. MNIST's images files
have magic 0x00000803 and dimensions (N, 28, 28), its labels files 0x00000801 and (N,).
"""
from __future__ import annotations

import struct

import numpy as np

UNSIGNED_BYTE = 0x08
TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def encode(array: np.ndarray) -> bytes:
    """The bytes of an IDX file holding `array` (uint8, any number of dimensions)."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"IDX files here hold uint8 values, not {array.dtype}")
    magic = (UNSIGNED_BYTE << 8) | array.ndim
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def mnist_files(train_images, train_labels, test_images, test_labels) -> dict:
    """The four MNIST files, by their standard (uncompressed) names, each as a uint8 array of
    its bytes: the sandbox carries numeric arrays, not bytes."""
    contents = zip(TRAIN_FILES + TEST_FILES, (train_images, train_labels, test_images, test_labels))
    return {name: np.frombuffer(encode(array), dtype=np.uint8) for name, array in contents}
