"""Without MNIST, the tests that need it are one counted skip on a newcomer's machine, and a
failure under CI's strict switch (BERAS_REQUIRE_MNIST=1, set by .ci/run): CI never skips them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NEEDS_MNIST = "tests/project/test_mnist_loader.py::test_handout_loader_works_by_path_without_beras"


def run_without_mnist(**extra_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("BERAS_MNIST_DIR", "BERAS_REQUIRE_MNIST")}
    env.update(extra_env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", NEEDS_MNIST],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_without_mnist_a_test_that_needs_it_is_a_counted_skip():
    proc = run_without_mnist()
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "1 skipped" in proc.stdout and "error" not in proc.stdout.lower()
    assert "1 test needs MNIST files: set BERAS_MNIST_DIR" in proc.stdout


def test_ci_strict_switch_turns_the_skip_into_a_failure():
    proc = run_without_mnist(BERAS_REQUIRE_MNIST="1")
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "BERAS_REQUIRE_MNIST=1" in proc.stdout and "skipped" not in proc.stdout


def test_ci_sets_the_strict_switch():
    assert "export BERAS_REQUIRE_MNIST=1" in (PROJECT_ROOT / ".ci/run").read_text()
