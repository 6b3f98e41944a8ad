"""Downloading MNIST (what setup.sh does), against a real HTTP server on loopback."""
import gzip
import hashlib
import http.server
import subprocess
import sys
import threading

import numpy as np
import pytest


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields (base URL, that directory)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/mnist", root
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def served(server, mnist_dir):
    """The real t10k files, and "train" files cut from them, served under /mnist/."""
    base_url, root = server
    (root / "mnist").mkdir()
    t10k = {}
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        t10k[name] = gzip.decompress((mnist_dir / f"{name}.gz").read_bytes())
        (root / "mnist" / f"{name}.gz").write_bytes(gzip.compress(t10k[name], compresslevel=1))
    images = np.frombuffer(t10k["t10k-images-idx3-ubyte"], np.uint8, offset=16)[:500 * 784]
    labels = np.frombuffer(t10k["t10k-labels-idx1-ubyte"], np.uint8, offset=8)[:500]
    train = {
        "train-images-idx3-ubyte": (2051).to_bytes(4, "big") + b"".join(
            d.to_bytes(4, "big") for d in (500, 28, 28)) + images.tobytes(),
        "train-labels-idx1-ubyte": (2049).to_bytes(4, "big") + (500).to_bytes(4, "big") + labels.tobytes(),
    }
    for name, content in train.items():
        (root / "mnist" / f"{name}.gz").write_bytes(gzip.compress(content, compresslevel=1))
    # What to expect of them: our train cut-outs have their own checksums and sizes.
    expected = {name: (hashlib.sha256(content).hexdigest(), len(content)) for name, content in train.items()}
    return base_url, root / "mnist", expected


def test_download_checks_and_writes_files_the_loader_reads(reference_preprocess, served, tmp_path):
    base_url, _, train_expected = served
    expected = {**train_expected, **{name: reference_preprocess.EXPECTED_FILES[name]
                                     for name in reference_preprocess.TEST_FILES}}
    written = reference_preprocess.download_mnist(tmp_path / "data", base_url, expected)
    assert sorted(p.name for p in written) == sorted(f"{name}.gz" for name in expected)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == sorted(p.name for p in written)
    data = reference_preprocess.load_mnist_arrays(tmp_path / "data")
    assert data.train_images.shape == (500, 28, 28) and data.test_images.shape == (10000, 28, 28)


def test_a_file_whose_checksum_differs_is_refused_and_not_kept(reference_preprocess, served, tmp_path):
    base_url, www, _ = served
    labels = www / "t10k-labels-idx1-ubyte.gz"
    content = bytearray(gzip.decompress(labels.read_bytes()))
    content[8] = (content[8] + 1) % 10  # still a valid IDX file, just not MNIST's
    labels.write_bytes(gzip.compress(bytes(content)))
    wanted = {name: reference_preprocess.EXPECTED_FILES[name] for name in reference_preprocess.TEST_FILES}
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz: sha256 of the decompressed file is"):
        reference_preprocess.download_mnist(tmp_path / "data", base_url, wanted)
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["t10k-images-idx3-ubyte.gz"]


def test_train_files_of_the_wrong_size_are_refused(reference_preprocess, served, tmp_path):
    base_url, _, _ = served
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte\.gz: 392016 bytes once decompressed, "
                                         r"expected 47040016"):
        reference_preprocess.download_mnist(tmp_path / "data", base_url)  # the standard expectations
    assert not any((tmp_path / "data").iterdir())


def test_not_gzip_and_missing_files_are_errors_naming_the_url(reference_preprocess, served, tmp_path):
    base_url, www, _ = served
    wanted = {"t10k-labels-idx1-ubyte": reference_preprocess.EXPECTED_FILES["t10k-labels-idx1-ubyte"]}
    (www / "t10k-labels-idx1-ubyte.gz").write_bytes(b"<html>not found</html>")
    with pytest.raises(ValueError, match=f"{base_url}/t10k-labels-idx1-ubyte.gz: not gzip data"):
        reference_preprocess.download_mnist(tmp_path / "data", base_url, wanted)
    (www / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ConnectionError, match=f"{base_url}/t10k-labels-idx1-ubyte.gz: download failed"):
        reference_preprocess.download_mnist(tmp_path / "data", base_url, wanted)


def test_command_line_downloads_the_test_set_or_fails_with_exit_1(reference_dir, served, tmp_path):
    base_url, _, _ = served
    command = [sys.executable, str(reference_dir / "preprocess.py"), "--download", str(tmp_path / "data"),
               "--base-url", base_url]
    ok = subprocess.run(command + ["--test-set-only"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("downloaded and checked") == 2
    failed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1 and "expected 47040016" in failed.stderr and "Traceback" not in failed.stderr
