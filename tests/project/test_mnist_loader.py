"""MNIST loading (reference/preprocess.py): real IDX files, damaged copies, and the offline fallback."""
import gzip
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


# From ../shared/data/mnist/README.md: sha256 of the decompressed t10k files, and class counts.
T10K_IMAGES_SHA256 = "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
T10K_LABELS_SHA256 = "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
T10K_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def t10k(mnist_dir):
    """The decompressed bytes of the real t10k files: (images, labels)."""
    return tuple(gzip.decompress((mnist_dir / f"t10k-{kind}.gz").read_bytes())
                 for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"))


def idx_bytes(array, magic):
    array = np.asarray(array, dtype=np.uint8)
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write(path: Path, content: bytes, gz: bool) -> Path:
    path = path.with_name(path.name + ".gz") if gz else path
    path.write_bytes(gzip.compress(content, compresslevel=1) if gz else content)
    return path


def test_test_set_only_directory_splits_8000_2000_in_file_order(reference_preprocess, mnist_dir, t10k):
    data = reference_preprocess.load_mnist_arrays(mnist_dir)
    assert data.train_images.shape == (8000, 28, 28) and data.test_images.shape == (2000, 28, 28)
    assert data.train_images.dtype == np.uint8 and data.train_labels.dtype == np.int64
    assert "test set only" in data.source and "8,000" in data.source and "2,000" in data.source
    assert str(mnist_dir) in data.source
    # Exactly the files' contents, in the files' order.
    images = np.concatenate([data.train_images, data.test_images])
    labels = np.concatenate([data.train_labels, data.test_labels]).astype(np.uint8)
    assert hashlib.sha256(t10k[0][:16] + images.tobytes()).hexdigest() == T10K_IMAGES_SHA256
    assert hashlib.sha256(t10k[1][:8] + labels.tobytes()).hexdigest() == T10K_LABELS_SHA256
    assert np.bincount(labels).tolist() == T10K_CLASS_COUNTS


def test_load_and_preprocess_data_gives_scaled_flat_tensors(reference_beras, reference_preprocess, mnist_dir,
                                                            monkeypatch):
    monkeypatch.setenv("BERAS_MNIST_DIR", str(mnist_dir))
    train_x, train_y, test_x, test_y = reference_preprocess.load_and_preprocess_data()
    raw = reference_preprocess.load_mnist_arrays(mnist_dir)
    for inputs, images in ((train_x, raw.train_images), (test_x, raw.test_images)):
        assert isinstance(inputs, reference_beras.Tensor) and inputs.dtype == np.float32
        assert inputs.shape == (len(images), 784)
        assert inputs.min() == 0.0 and inputs.max() == 1.0
        np.testing.assert_allclose(inputs, images.reshape(-1, 784) / 255.0, rtol=1e-6)
    assert np.issubdtype(train_y.dtype, np.integer) and train_y.shape == (8000,)
    np.testing.assert_array_equal(test_y, raw.test_labels)


def test_four_files_raw_or_gz_and_either_spelling(reference_preprocess, t10k, tmp_path):
    images = np.frombuffer(t10k[0], np.uint8, offset=16).reshape(-1, 28, 28)
    labels = np.frombuffer(t10k[1], np.uint8, offset=8)
    write(tmp_path / "train-images.idx3-ubyte", idx_bytes(images[:3000], 2051), gz=False)
    write(tmp_path / "train-labels.idx1-ubyte", idx_bytes(labels[:3000], 2049), gz=False)
    write(tmp_path / "t10k-images-idx3-ubyte", t10k[0], gz=True)
    write(tmp_path / "t10k-labels-idx1-ubyte", t10k[1], gz=True)
    data = reference_preprocess.load_mnist_arrays(tmp_path)
    assert data.source == f"MNIST ({tmp_path}): 3,000 training and 10,000 test images"
    np.testing.assert_array_equal(data.train_images, images[:3000])
    np.testing.assert_array_equal(data.train_labels, labels[:3000])
    np.testing.assert_array_equal(data.test_images, images)


def test_a_lone_train_file_is_an_error_naming_the_missing_one(reference_preprocess, t10k, tmp_path):
    write(tmp_path / "t10k-images-idx3-ubyte", t10k[0], gz=True)
    write(tmp_path / "t10k-labels-idx1-ubyte", t10k[1], gz=True)
    write(tmp_path / "train-images-idx3-ubyte", t10k[0], gz=True)
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        reference_preprocess.load_mnist_arrays(tmp_path)


def damaged(kind, images, labels):
    """(file stem, content, what the error says) for one kind of damage."""
    if kind == "bad magic":
        return "t10k-images-idx3-ubyte", (2052).to_bytes(4, "big") + images[4:], "magic number 2052"
    if kind == "truncated":
        return "t10k-images-idx3-ubyte", images[:-100], "truncated"
    if kind == "trailing data":
        return "t10k-labels-idx1-ubyte", labels + b"\x00", "trailing data"
    if kind == "label out of range":
        return "t10k-labels-idx1-ubyte", labels[:8 + 17] + b"\x0a" + labels[8 + 18:], "label 10 at index 17"
    if kind == "not 28x28":
        header = images[:8] + (27).to_bytes(4, "big") + (29).to_bytes(4, "big")
        return "t10k-images-idx3-ubyte", header + images[16:], "27x29, expected 28x28"
    if kind == "labels where images belong":
        return "t10k-images-idx3-ubyte", labels, "holds labels, expected images"
    if kind == "count mismatch":
        return "t10k-labels-idx1-ubyte", idx_bytes(np.frombuffer(labels, np.uint8, offset=8)[:9999], 2049), \
            "10000 images but"
    if kind == "empty":
        return "t10k-labels-idx1-ubyte", b"", "too short"
    raise AssertionError(kind)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("kind", ["bad magic", "truncated", "trailing data", "label out of range", "not 28x28",
                                  "labels where images belong", "count mismatch", "empty"])
def test_damaged_files_are_errors_naming_the_file(reference_preprocess, t10k, tmp_path, kind, gz):
    stem, content, complaint = damaged(kind, *t10k)
    for name, good in zip(reference_preprocess.TEST_FILES, t10k):
        write(tmp_path / name, content if name == stem else good, gz)
    bad_file = tmp_path / (stem + (".gz" if gz else ""))
    with pytest.raises(ValueError) as raised:
        reference_preprocess.load_mnist_arrays(tmp_path)
    assert str(bad_file) in str(raised.value) and complaint in str(raised.value)


def test_damaged_gzip_stream_is_an_error_naming_the_file(reference_preprocess, t10k, tmp_path):
    write(tmp_path / "t10k-images-idx3-ubyte", t10k[0], gz=True)
    path = write(tmp_path / "t10k-labels-idx1-ubyte", t10k[1], gz=True)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match=f"{path}: damaged gzip data"):
        reference_preprocess.load_mnist_arrays(tmp_path)


def copy_of_preprocess(reference_dir, where: Path, name: str):
    """reference/preprocess.py copied to where/, loaded from there (its own data/mnist neighbours)."""
    where.mkdir(parents=True, exist_ok=True)
    shutil.copy(reference_dir / "preprocess.py", where / "preprocess.py")
    spec = importlib.util.spec_from_file_location(name, where / "preprocess.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def link_mnist(mnist_dir, directory: Path) -> Path:
    directory.mkdir(parents=True)
    for path in mnist_dir.glob("t10k-*"):
        (directory / path.name).symlink_to(path)
    return directory


def test_find_mnist_dir_prefers_the_variable_then_beside_then_parent(reference_dir, mnist_dir, tmp_path,
                                                                    monkeypatch):
    module = copy_of_preprocess(reference_dir, tmp_path / "handout", "preprocess_lookup")
    monkeypatch.delenv("BERAS_MNIST_DIR")
    assert module.find_mnist_dir() is None
    parent = link_mnist(mnist_dir, tmp_path / "data" / "mnist")
    assert module.find_mnist_dir() == parent
    beside = link_mnist(mnist_dir, tmp_path / "handout" / "data" / "mnist")
    assert module.find_mnist_dir() == beside
    monkeypatch.setenv("BERAS_MNIST_DIR", str(mnist_dir))
    assert module.find_mnist_dir() == mnist_dir
    monkeypatch.setenv("BERAS_MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=f"BERAS_MNIST_DIR={tmp_path / 'nowhere'} holds no MNIST"):
        module.find_mnist_dir()


# Runs in a fresh interpreter: the given loaders must work without beras (and without
# importing scikit-learn, whose data file is read directly to keep memory low).
WITHOUT_BERAS = '''
import importlib.util, json, sys
sys.modules["beras"] = None  # any `import beras` now fails
spec = importlib.util.spec_from_file_location("handout_preprocess", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
data = module.load_mnist_arrays()
print(json.dumps({"source": data.source, "train": list(data.train_images.shape),
                  "test": list(data.test_images.shape), "sklearn imported": "sklearn" in sys.modules}))
'''


def run_without_beras(preprocess_file: Path, **env) -> dict:
    clean = {k: v for k, v in os.environ.items() if k != "BERAS_MNIST_DIR"}
    result = subprocess.run([sys.executable, "-c", WITHOUT_BERAS, str(preprocess_file)],
                            capture_output=True, text=True, timeout=60, env={**clean, **env}, cwd="/")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_handout_loader_works_by_path_without_beras(template_dir, mnist_dir):
    found = run_without_beras(template_dir / "preprocess.py", BERAS_MNIST_DIR=str(mnist_dir))
    assert found["train"] == [8000, 28, 28] and found["test"] == [2000, 28, 28]
    assert found["source"].startswith("MNIST test set only")


def test_offline_fallback_is_real_digits_named_as_such(reference_dir, tmp_path):
    shutil.copy(reference_dir / "preprocess.py", tmp_path / "preprocess.py")
    found = run_without_beras(tmp_path / "preprocess.py")
    assert found["train"] == [1500, 28, 28] and found["test"] == [297, 28, 28]
    assert found["source"].startswith("NOT MNIST") and "scikit-learn" in found["source"]
    assert found["sklearn imported"] is False


def test_offline_fallback_digits_are_sklearns_digits_resized(reference_preprocess, monkeypatch):
    from sklearn.datasets import load_digits  # trusted test process: fine to import here

    monkeypatch.delenv("BERAS_MNIST_DIR", raising=False)
    monkeypatch.setattr(reference_preprocess, "find_mnist_dir", lambda: None)
    data = reference_preprocess.load_mnist_arrays()
    digits = load_digits()
    images = np.concatenate([data.train_images, data.test_images])
    np.testing.assert_array_equal(np.concatenate([data.train_labels, data.test_labels]), digits.target)
    assert images.dtype == np.uint8 and images.max() == 255
    assert not images[:, :4].any() and not images[:, 24:].any()  # MNIST's 4-pixel margins
    assert not images[:, :, :4].any() and not images[:, :, 24:].any()
    # Shrunk back to 8x8, each image matches its original (0-16 scaled to 0-255) closely.
    shrink = np.zeros((8, 20))
    for row in range(8):
        shrink[row, round(row * 2.5):round((row + 1) * 2.5)] = 1
    shrink /= shrink.sum(axis=1, keepdims=True)
    small = shrink @ images[:, 4:24, 4:24].astype(float) @ shrink.T
    expected = digits.images * 255 / 16
    correlation = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(small, expected) if b.std() > 0]
    assert np.median(correlation) > 0.95 and min(correlation) > 0.8


def test_no_mnist_and_no_digits_says_how_to_get_mnist(reference_preprocess, monkeypatch):
    monkeypatch.setattr(reference_preprocess, "find_mnist_dir", lambda: None)
    monkeypatch.setattr(sys, "path", [])
    with pytest.raises(FileNotFoundError, match="--download"):
        reference_preprocess.load_mnist_arrays()
