"""README's two commands, as a newcomer meets them: a fresh clone in a new ordinary user's home.

`python3 dev.py example` must grade the example to 100 and `python3 dev.py test` must pass,
building their environment from nothing (pip downloads what pyproject.toml lists). The test
command runs a SMALL subset here (one test that needs root, two that need MNIST, the report's
tests, the student kit checked without a user switch): the whole suite as root is what CI itself runs, and the
nested run must not start this test again (FRESH_CLONE_ENV guards it).

Creating the user needs root; as an ordinary user this test is one of the counted skips.
"""
from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from engine_cases import harness

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FRESH_CLONE_ENV = "BERAS_INSIDE_FRESH_CLONE"
NEWCOMER = "beras-newcomer"
SUBSET = ["tests/project/test_report.py",
          # Two tests that need MNIST, which a newcomer lacks: counted skips, not errors.
          "tests/project/test_mnist_loader.py::test_test_set_only_directory_splits_8000_2000_in_file_order",
          "tests/project/test_mnist_loader.py::test_handout_loader_works_by_path_without_beras",
          "tests/project/test_gradescope.py::test_setup_creates_the_user_and_locks_our_folders",
          "tests/project/test_cli.py::test_check_in_an_unpacked_student_kit"]

pytestmark = [pytest.mark.needs_root,
              pytest.mark.skipif(bool(os.environ.get(FRESH_CLONE_ENV)),
                                 reason="the fresh clone's own run does not clone itself again")]


@pytest.fixture
def newcomer():
    """A new ordinary user whose home is a throwaway folder; removed with everything it ran."""
    top = Path(tempfile.mkdtemp(prefix="beras-fresh-clone-"))
    top.chmod(0o755)
    home = top / "home"
    subprocess.run(["userdel", "--remove", NEWCOMER], capture_output=True)  # an earlier run's leftover
    subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/sh", NEWCOMER],
                   check=True, capture_output=True)
    user = pwd.getpwnam(NEWCOMER)
    try:
        yield user, home
    finally:
        for pid in harness.processes_of(user.pw_uid):  # only this throwaway user's processes
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
        subprocess.run(["userdel", "--remove", NEWCOMER], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


def test_readme_commands_pass_in_a_fresh_clone_as_a_new_ordinary_user(newcomer):
    user, home = newcomer
    clone = home / "beras"
    subprocess.run(["git", "clone", "--quiet", str(PROJECT_ROOT), str(clone)], check=True, capture_output=True)
    tmp = home / "tmp"
    tmp.mkdir()
    subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(home)], check=True)
    env = {"HOME": str(home), "USER": NEWCOMER, "LOGNAME": NEWCOMER, "PATH": "/usr/local/bin:/usr/bin:/bin",
           "LANG": "C.UTF-8", "TMPDIR": str(tmp), FRESH_CLONE_ENV: "1"}
    # A newcomer has no MNIST: no BERAS_MNIST_DIR, no ../shared beside the clone, and not
    # CI's BERAS_REQUIRE_MNIST (the example trains on scikit-learn's digits instead).
    assert not (home / "shared").exists()

    def as_newcomer(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["python3", "dev.py", *args], cwd=clone, env=env, user=user.pw_uid,
                              group=user.pw_gid, extra_groups=[], capture_output=True, text=True, timeout=1800)

    example = as_newcomer("example")
    assert example.returncode == 0, example.stdout[-3000:] + example.stderr[-3000:]
    assert (clone / ".venv").is_dir()  # its own environment, in its own clone
    assert "dev.py: installing numpy" in example.stderr and "once" in example.stderr  # not silence
    doc = json.loads((clone / "results.json").read_text())
    assert doc["score"] == sum(t["max_score"] for t in doc["tests"]) == 100, example.stdout[-3000:]

    tests = as_newcomer("test", *SUBSET, "-q")
    assert tests.returncode == 0, tests.stdout[-5000:] + tests.stderr[-3000:]
    assert "1 test needs root: run as root, as CI does" in tests.stdout, tests.stdout[-3000:]
    assert "2 tests need MNIST files: set BERAS_MNIST_DIR" in tests.stdout, tests.stdout[-3000:]
    assert "error" not in tests.stdout.lower().split("short test summary")[-1]
    assert "Traceback" not in tests.stdout
    assert list(tmp.iterdir()) == []  # the run left nothing behind in its temporary folder
