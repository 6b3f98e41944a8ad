"""Shared fixtures of the project's own tests. Keep each small; add yours below.

Three things a newcomer's run needs are not always there: root (a real sandbox user, the
Gradescope layout's setup.sh), Chromium (the TA report's screenshots) and MNIST's files
(BERAS_MNIST_DIR). Tests that need them carry the `needs_root` marker, call
`ta_support.chromium_binary()` after their HTML checks, or take the `mnist_dir` fixture;
without them they skip with one counted reason in the summary, never an error. CI sets
BERAS_REQUIRE_MNIST=1, which turns the MNIST skips into failures.
Every temporary file of the run lives in one folder that is removed at the end, so a run
leaves nothing in /tmp behind, even when a test kills a grading process before it could
clean up.
"""
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import pytest

NEEDS_ROOT = "needs root: run as root, as CI does"
NEEDS_CHROMIUM = "needs Chromium: apt-get install chromium, as .ci/run does"  # ta_support's skip
NEEDS_MNIST = "needs MNIST files: set BERAS_MNIST_DIR"
# CI sets it (.ci/run): there, a test that needs MNIST fails without it rather than skip.
REQUIRE_MNIST_ENV = "BERAS_REQUIRE_MNIST"
NEEDS_CONTAINER = ("needs podman, debootstrap and Docker's default seccomp profile: "
                   "run tests/project/container_support/install-tools.sh, as .ci/run does")
COUNTED_REASONS = {NEEDS_ROOT: "root: run as root, as CI does",
                   NEEDS_MNIST: "MNIST files: set BERAS_MNIST_DIR (CI: ../shared/data/mnist)",
                   NEEDS_CHROMIUM: "Chromium for the browser half (the HTML checks ran): "
                                   "apt-get install chromium, as .ci/run does",
                   NEEDS_CONTAINER: "podman, debootstrap and Docker's seccomp profile (Gradescope's container): "
                                    "run tests/project/container_support/install-tools.sh, as .ci/run does"}
_session_tmp: list = []


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def pytest_configure(config):
    config.addinivalue_line("markers", f"needs_root: the test {NEEDS_ROOT} (a real sandbox user or setup.sh)")
    # The graded suite's marker (registered by autograder.plugin when it grades): some project
    # tests import suite modules directly, e.g. to read their points.
    config.addinivalue_line("markers", "autograder_note(text): a note that opens results.json")
    # Live markup in a results.json output is a grader bug: under our tests the writer raises
    # instead of escaping the field (autograder/results.py, inert_outputs); gradings inherit it.
    os.environ["AUTOGRADER_STRICT_MARKDOWN"] = "1"
    if _session_tmp or hasattr(config, "workerinput"):
        return
    # One sticky, world-traversable folder (like /tmp itself: sandbox users reach what the
    # tests put there) for every temporary file of this run and of the processes it starts.
    top = Path(tempfile.mkdtemp(prefix="beras-project-tests-"))
    top.chmod(0o1777)
    _session_tmp.append((top, os.environ.get("TMPDIR"), tempfile.tempdir))
    os.environ["TMPDIR"] = str(top)
    tempfile.tempdir = str(top)


def pytest_unconfigure(config):
    if not _session_tmp:
        return
    top, old_env, old_tempdir = _session_tmp.pop()
    if old_env is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = old_env
    tempfile.tempdir = old_tempdir
    shutil.rmtree(top, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    if is_root():
        return
    skip = pytest.mark.skip(reason=NEEDS_ROOT)
    for item in items:
        if item.get_closest_marker("needs_root"):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    counts = dict.fromkeys(COUNTED_REASONS, 0)
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        for key in counts:
            if key in reason:
                counts[key] += 1
    for key, count in counts.items():
        if count:
            verb = "tests need" if count != 1 else "test needs"
            terminalreporter.write_line(f"{count} {verb} {COUNTED_REASONS[key]}", yellow=True, bold=True)


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
    """The real MNIST files named by BERAS_MNIST_DIR (CI sets it). Unset, the test is one of
    the counted skips (a newcomer has no MNIST), or fails when BERAS_REQUIRE_MNIST=1 (CI);
    set to a folder without them, it always fails."""
    named = os.environ.get("BERAS_MNIST_DIR")
    if not named:
        if os.environ.get(REQUIRE_MNIST_ENV) == "1":
            pytest.fail(f"BERAS_MNIST_DIR is not set and {REQUIRE_MNIST_ENV}=1: point it at a directory "
                        f"of MNIST IDX files (CI uses ../shared/data/mnist)")
        pytest.skip(NEEDS_MNIST)
    if not (Path(named) / "t10k-images-idx3-ubyte.gz").is_file() and not (Path(named) / "t10k-images-idx3-ubyte").is_file():
        pytest.fail(f"BERAS_MNIST_DIR={named} holds no t10k-images-idx3-ubyte(.gz)")
    return Path(named)


def load_module_from(path: Path, name: str):
    """Import one file as a module under a private name, without touching sys.path."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference_beras():
    """The reference's `beras` package (its preprocess, assignment, committee importable too),
    imported in this test process for one test module, then forgotten again."""
    import term_profiles  # (its corpus reader needs yaml, which only some tests want loaded)
    with term_profiles.imported_beras(REFERENCE_DIR) as beras:
        yield beras


@pytest.fixture(scope="session")
def reference_preprocess():
    """reference/preprocess.py, loaded by path as graders load it (no beras needed)."""
    return load_module_from(REFERENCE_DIR / "preprocess.py", "reference_preprocess")


@pytest.fixture(scope="session")
def full_mnist_dir(mnist_dir, tmp_path_factory) -> Path:
    """The four MNIST files, gzipped, as Gradescope should get them. Only the t10k files are
    shared (and MNIST is never committed), so the train files are the real t10k images and
    labels tiled to 60,000, under correct IDX headers: real data, the real format and sizes."""
    import gzip
    import struct

    out = tmp_path_factory.mktemp("mnist-full")
    for kind, magic, header in (("images", 2051, ">IIII"), ("labels", 2049, ">II")):
        stem = f"t10k-{kind}-idx{3 if kind == 'images' else 1}-ubyte"
        source = mnist_dir / (stem + ".gz")
        raw = gzip.decompress(source.read_bytes()) if source.is_file() else (mnist_dir / stem).read_bytes()
        size = struct.calcsize(header)
        fields = struct.unpack(header, raw[:size])
        assert fields[0] == magic and fields[1] == 10000, f"{stem}: unexpected IDX header {fields}"
        body = raw[size:] * 6
        train = struct.pack(header, magic, 60000, *fields[2:]) + body
        (out / (stem + ".gz")).write_bytes(gzip.compress(raw, compresslevel=1, mtime=0))
        (out / (stem.replace("t10k", "train") + ".gz")).write_bytes(gzip.compress(train, compresslevel=1, mtime=0))
    return out


# Issue 18: Gradescope's Docker container refuses every namespace, so the hostile tests run
# twice: with every layer this machine allows ("full"), and in Docker mode ("docker":
# AUTOGRADER_NAMESPACES=off, only the sandbox user, seccomp, Landlock and rlimits). A module
# opts in with `pytestmark = pytest.mark.usefixtures("sandbox_mode")`; its sandboxes (and the
# graders it starts, which inherit the environment) then run in the fixture's mode.
SANDBOX_MODES = ("full", "docker")
DOCKER_MODE_ENV = {"AUTOGRADER_NAMESPACES": "off"}


@pytest.fixture(scope="module", params=SANDBOX_MODES)
def sandbox_mode(request):
    patch = pytest.MonkeyPatch()
    for name, value in DOCKER_MODE_ENV.items():
        if request.param == "docker":
            patch.setenv(name, value)
        else:
            patch.delenv(name, raising=False)
    yield request.param
    patch.undo()
