"""Loading MNIST for Beras.

MNIST comes as four IDX files (gzipped or raw), looked for in this order:
  1. the directory named by the environment variable BERAS_MNIST_DIR;
  2. data/mnist/ next to this file;
  3. data/mnist/ in the parent of this file's directory.
A directory holding only the test files (t10k-*) is split deterministically: the first
8,000 images train, the last 2,000 test. With no MNIST anywhere, the real handwritten digits
that scikit-learn ships (8x8) are resized to 28x28 instead; every message names the dataset.

Get the real files with:   python preprocess.py --download data/mnist [--base-url URL]
(add --test-set-only for just the two t10k files).

Everything here but load_and_preprocess_data() is given, and uses only the standard library
and NumPy: graders load these functions straight from this file, without importing beras.
"""
import argparse
import gzip
import hashlib
import io
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

import numpy as np

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
NUM_CLASSES = 10
TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# When only the test files exist: how many of their images train (the rest test).
TEST_ONLY_TRAIN_COUNT = 8000
DIGITS_TRAIN_COUNT = 1500  # of the 1,797 scikit-learn digits; the last 297 test

DEFAULT_BASE_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
# What each downloaded file must be once decompressed: (sha256 or None, size in bytes).
# The t10k checksums are those of the copies in the course's shared data. For the train
# files we have no checksum we can vouch for, so their size and IDX header are checked.
EXPECTED_FILES = {
    "train-images-idx3-ubyte": (None, 16 + 60000 * 28 * 28),
    "train-labels-idx1-ubyte": (None, 8 + 60000),
    "t10k-images-idx3-ubyte": (
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 16 + 10000 * 28 * 28),
    "t10k-labels-idx1-ubyte": (
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 8 + 10000),
}


class MnistData(NamedTuple):
    train_images: np.ndarray  # uint8, (N, 28, 28)
    train_labels: np.ndarray  # int64, (N,)
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str  # what these are and where they came from, for every message


def idx_path(directory, stem):
    """The file for `stem` in directory (raw or .gz; '-idx' or '.idx' spelling), or None."""
    for name in (stem, stem.replace("-idx", ".idx")):
        for candidate in (name + ".gz", name):
            path = Path(directory) / candidate
            if path.is_file():
                return path
    return None


def find_mnist_dir():
    """The directory to read MNIST from (see the module docstring), or None when there is none."""
    named = os.environ.get("BERAS_MNIST_DIR")
    if named:
        if not idx_path(named, TEST_FILES[0]):
            raise FileNotFoundError(
                f"BERAS_MNIST_DIR={named} holds no MNIST: expected {TEST_FILES[0]}(.gz) there"
            )
        return Path(named)
    here = Path(__file__).resolve().parent
    for directory in (here / "data" / "mnist", here.parent / "data" / "mnist"):
        if idx_path(directory, TEST_FILES[0]):
            return directory
    return None


def read_idx(path):
    """The array stored in an MNIST IDX file (gzipped or raw), after checking that it is sound.

    Images files (magic 2051) give uint8 (N, 28, 28); labels files (magic 2049) give uint8 (N,)
    with values 0-9. Any problem raises ValueError naming the file.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as error:
            raise ValueError(f"{path}: damaged gzip data ({error})") from None
    return _parse_idx(raw, path)


def _parse_idx(raw, name):
    """The array in the bytes of an IDX file; name says where they came from, for errors."""
    if len(raw) < 8:
        raise ValueError(f"{name}: too short to be an IDX file ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise ValueError(
            f"{name}: magic number {magic}, expected {IMAGES_MAGIC} (images) or {LABELS_MAGIC} (labels)"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{name}: header cut short")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if magic == IMAGES_MAGIC and dims[1:] != (28, 28):
        raise ValueError(f"{name}: images are {dims[1]}x{dims[2]}, expected 28x28")
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise ValueError(
            f"{name}: {len(raw)} bytes, but its header {dims} needs {expected}"
            + (" (truncated)" if len(raw) < expected else " (trailing data)")
        )
    # frombuffer shares the bytes instead of copying them (the array is read-only).
    array = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    if magic == LABELS_MAGIC and array.size and array.max() >= NUM_CLASSES:
        bad = int(np.argmax(array >= NUM_CLASSES))
        raise ValueError(f"{name}: label {array[bad]} at index {bad} is not a digit 0-9")
    return array


def _read_pair(directory, stems):
    """Images and int64 labels of one split, checked to belong together."""
    paths = [idx_path(directory, stem) for stem in stems]
    for stem, path in zip(stems, paths):
        if path is None:
            raise FileNotFoundError(f"{directory}: {stem}(.gz) is missing")
    images, labels = (read_idx(path) for path in paths)
    if images.ndim != 3:
        raise ValueError(f"{paths[0]}: holds labels, expected images (magic {IMAGES_MAGIC})")
    if labels.ndim != 1:
        raise ValueError(f"{paths[1]}: holds images, expected labels (magic {LABELS_MAGIC})")
    if len(images) != len(labels):
        raise ValueError(f"{paths[0]} has {len(images)} images but {paths[1]} has {len(labels)} labels")
    return images, labels.astype(np.int64)


def _sklearn_digits_file():
    """scikit-learn's bundled digits.csv.gz, found on sys.path without importing scikit-learn."""
    for entry in sys.path:
        path = Path(entry or ".") / "sklearn" / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return path
    return None


def _resize_matrix(size_in, size_out):
    """(size_out, size_in) linear-interpolation weights, pixel centres aligned."""
    positions = np.clip((np.arange(size_out) + 0.5) * size_in / size_out - 0.5, 0, size_in - 1)
    low = np.floor(positions).astype(int)
    high = np.minimum(low + 1, size_in - 1)
    weights = np.zeros((size_out, size_in))
    weights[np.arange(size_out), low] += 1 - (positions - low)
    weights[np.arange(size_out), high] += positions - low
    return weights


def _load_sklearn_digits():
    """scikit-learn's real 8x8 digits made MNIST-like: 20x20 in a 28x28 frame, uint8 0-255."""
    path = _sklearn_digits_file()
    if path is None:
        raise FileNotFoundError(
            "no MNIST found (set BERAS_MNIST_DIR, or run `python preprocess.py --download data/mnist`), "
            "and scikit-learn's digits, the offline fallback, are not installed either"
        )
    table = np.loadtxt(io.StringIO(gzip.decompress(path.read_bytes()).decode()), delimiter=",")
    small = table[:, :64].reshape(-1, 8, 8) / 16.0
    resize = _resize_matrix(8, 20)
    # MNIST digits fit a 20x20 box centred in a 28x28 frame.
    images = np.zeros((len(small), 28, 28), dtype=np.uint8)
    images[:, 4:24, 4:24] = np.rint(255 * np.clip(resize @ small @ resize.T, 0, 1))
    return images, table[:, 64].astype(np.int64), path


def load_mnist_arrays(directory=None):
    """MNIST as MnistData(train_images, train_labels, test_images, test_labels, source).

    directory defaults to find_mnist_dir(). Images are uint8 (N, 28, 28), labels int64 (N,).
    """
    directory = find_mnist_dir() if directory is None else Path(directory)
    if directory is None:
        images, labels, path = _load_sklearn_digits()
        cut = DIGITS_TRAIN_COUNT
        source = (
            f"NOT MNIST: no MNIST files were found, so these are scikit-learn's bundled 8x8 "
            f"handwritten digits ({path}), resized to 28x28; first {cut:,} train, "
            f"last {len(images) - cut:,} test"
        )
        return MnistData(images[:cut], labels[:cut], images[cut:], labels[cut:], source)
    test_images, test_labels = _read_pair(directory, TEST_FILES)
    if idx_path(directory, TRAIN_FILES[0]) or idx_path(directory, TRAIN_FILES[1]):
        train_images, train_labels = _read_pair(directory, TRAIN_FILES)
        source = (f"MNIST ({directory}): {len(train_images):,} training and "
                  f"{len(test_images):,} test images")
        return MnistData(train_images, train_labels, test_images, test_labels, source)
    cut = TEST_ONLY_TRAIN_COUNT
    if len(test_images) <= cut:
        raise ValueError(f"{directory}: only {len(test_images)} test images, cannot split off {cut:,}")
    source = (f"MNIST test set only ({directory}): its first {cut:,} images train, "
              f"its last {len(test_images) - cut:,} test")
    return MnistData(test_images[:cut], test_labels[:cut], test_images[cut:], test_labels[cut:], source)


def download_mnist(dest, base_url=DEFAULT_BASE_URL, expected=None):
    """Download MNIST files (gzipped) into dest, checking each before it is kept.

    expected maps file names to (sha256 of the decompressed bytes or None, size in bytes);
    it defaults to EXPECTED_FILES, the four standard files. Returns the paths written.
    """
    expected = EXPECTED_FILES if expected is None else expected
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (sha256, size) in expected.items():
        url = base_url.rstrip("/") + "/" + name + ".gz"
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                payload = response.read()
        except (urllib.error.URLError, OSError) as error:
            raise ConnectionError(f"{url}: download failed ({error})") from None
        try:
            content = gzip.decompress(payload)
        except (OSError, EOFError) as error:
            raise ValueError(f"{url}: not gzip data ({error})") from None
        if len(content) != size:
            raise ValueError(f"{url}: {len(content)} bytes once decompressed, expected {size}")
        digest = hashlib.sha256(content).hexdigest()
        if sha256 is not None and digest != sha256:
            raise ValueError(f"{url}: sha256 of the decompressed file is {digest}, expected {sha256}")
        _parse_idx(content, url)  # the IDX header and labels, as the loader will see them
        # Written under a temporary name and renamed: a file in dest is always a checked one.
        with tempfile.NamedTemporaryFile(dir=dest, prefix=f".{name}.", delete=False) as tmp:
            tmp.write(payload)
        os.chmod(tmp.name, 0o644)  # mkstemp's 0600 would hide the data from other users
        target = dest / (name + ".gz")
        os.replace(tmp.name, target)
        written.append(target)
    return written


def load_and_preprocess_data():
    """MNIST for training: (train_inputs, train_labels, test_inputs, test_labels).

    Inputs are float32 in [0, 1], flattened to (N, 784) and wrapped in Tensor; labels are the
    integer class ids, in the files' order.
    """
    # Imported here so that this file's other functions can be loaded without beras.
    from beras.core import Tensor

    data = load_mnist_arrays()
    print(f"Data: {data.source}", file=sys.stderr)
    raise NotImplementedError("TODO: flatten each split's images to (N, 784), convert to float32, scale from 0-255 to [0, 1], wrap in Tensor")
    return train_inputs, data.train_labels, test_inputs, data.test_labels


def main(argv=None):
    parser = argparse.ArgumentParser(description="Get or inspect the MNIST files Beras trains on.")
    parser.add_argument("--download", metavar="DIR", help="download the four MNIST files into DIR")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL, help="where to download them from")
    parser.add_argument("--test-set-only", action="store_true", help="download only the two t10k files")
    args = parser.parse_args(argv)
    try:
        if args.download:
            wanted = {name: EXPECTED_FILES[name] for name in TEST_FILES} if args.test_set_only else None
            for path in download_mnist(args.download, args.base_url, wanted):
                print(f"downloaded and checked {path}")
            return 0
        data = load_mnist_arrays()
    except (OSError, ValueError) as error:
        print(f"preprocess.py: {error}", file=sys.stderr)
        return 1
    print(f"{data.source}: train {data.train_images.shape}, test {data.test_images.shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
