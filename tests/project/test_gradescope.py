"""setup.sh and run_autograder for real: built autograder.zip, Gradescope's layout relocated
under /tmp (AUTOGRADER_ROOT), a real unprivileged sandbox user, and the real venv (reused
offline, as setup.sh does when it already matches pyproject.toml)."""
from __future__ import annotations

import json
import grp
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from engine_cases import harness

pytestmark = pytest.mark.needs_root  # a real sandbox user, as on Gradescope and in CI


@pytest.fixture(scope="module")
def tree():
    top = harness.public_tmp()
    try:
        yield harness.GradescopeTree(top)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_setup_creates_the_user_and_locks_our_folders(tree):
    assert tree.setup.returncode == 0, tree.setup.stdout + tree.setup.stderr
    assert "dev.py: installing" not in tree.setup.stderr  # the existing venv already satisfied pyproject
    user = pwd.getpwnam(harness.E2E_USER)
    assert user.pw_uid != 0 and user.pw_shell.endswith("nologin")
    for name in ("source", "results"):
        info = (tree.root / name).stat()
        assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == 0, name
    secret = tree.root / "source" / "reference" / "calc" / "__init__.py"
    as_user = subprocess.run(["cat", str(secret)], user=user.pw_uid, group=user.pw_gid, extra_groups=[],
                             capture_output=True, text=True)
    assert as_user.returncode != 0 and "Permission denied" in as_user.stderr
    assert harness.SECRET not in as_user.stdout


def test_correct_submission_full_marks(tree):
    doc, proc = tree.run(harness.CASES / "submissions" / "correct")
    assert proc.returncode == 0
    harness.validate(doc)
    assert doc["score"] == 10 and all(t["status"] == "passed" for t in doc["tests"])
    assert "score 10 / 10" in proc.stdout  # the staff log
    results = tree.root / "results" / "results.json"
    assert stat.S_IMODE(results.stat().st_mode) == 0o644 and results.stat().st_uid == 0
    assert [p.name for p in (tree.root / "results").iterdir()] == ["results.json"]
    assert harness.processes_of(tree.uid) == []


def test_wrong_submission_partial_marks_with_feedback(tree):
    doc, _ = tree.run(harness.CASES / "submissions" / "wrong")
    tests = harness.by_function(harness.validate(doc))
    assert doc["score"] == 5
    assert tests["test_add"]["output"].startswith("`add(2, 3)` returned `-1`; expected `5`.")
    assert "Your code printed" in tests["test_add"]["output"]  # student stdout, fenced
    assert tests["test_mean"]["output"] == "The mean is not right yet."  # hide_errors
    assert tests["test_partial"]["score"] == 1
    assert doc["leaderboard"] == [{"name": "speed", "value": 9.0, "order": "asc"}]


def test_zip_upload_in_a_wrapper_folder(tree, tmp_path):
    archive = tmp_path / "submission.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in (harness.CASES / "submissions" / "correct").rglob("*.py"):
            zf.write(path, "my-hw/" + path.relative_to(harness.CASES / "submissions" / "correct").as_posix())
        zf.writestr("__MACOSX/my-hw/._calc", "junk")
    doc, _ = tree.run(archive)
    assert harness.validate(doc)["score"] == 10
    assert "`my-hw/`" in doc["output"]


def test_the_handout_and_an_empty_submission_score_zero(tree):
    doc, _ = tree.run(harness.COURSE / "template")
    assert harness.validate(doc)["score"] == 0
    assert "TODO: add two numbers" in harness.by_function(doc)["test_add"]["output"]
    doc, _ = tree.run(None)
    assert harness.validate(doc)["score"] == 0
    assert sum(t["max_score"] for t in doc["tests"]) == harness.COURSE_MAX
    assert "Your submission has none of the handout's files (`calc/__init__.py`, `calc/vec.py`)" in doc["output"]
    assert "no `calc.py` or `calc/`" in harness.by_function(doc)["test_add"]["output"]


def test_a_missing_file_fails_only_the_tests_that_need_it(tree, tmp_path):
    doc, _ = tree.run(harness.make_submission(tmp_path / "sub", remove=("calc/vec.py",)))
    tests = harness.by_function(harness.validate(doc))
    assert [n for n, t in tests.items() if t["status"] != "passed"] == ["test_vec_norm"]
    assert tests["test_vec_norm"]["output"].startswith("**Your submission has no `calc/vec.py`**")
    assert doc["score"] == 9


def test_run_autograder_never_leaves_an_invalid_file(tree, tmp_path):
    # An interpreter that scribbles over results.json and fails: the script still ends with
    # a valid document that says the grader failed.
    fake = tmp_path / "venv" / "bin"
    fake.mkdir(parents=True)
    (fake / "python").write_text(f'#!/bin/sh\necho "{{not json" > "{tree.root}/results/results.json"\nexit 1\n')
    (fake / "python").chmod(0o755)
    doc, proc = tree.run(harness.CASES / "submissions" / "correct", BERAS_VENV=str(tmp_path / "venv"))
    assert proc.returncode == 0
    harness.validate(doc)
    assert doc["output"].startswith("**Grader error.**") and doc["score"] == 0


def test_the_fallback_stands_when_the_run_is_killed(tree, tmp_path):
    # Gradescope's global timeout kills everything: what is left must still be valid.
    fake = tmp_path / "venv" / "bin"
    fake.mkdir(parents=True)
    (fake / "python").write_text("#!/bin/sh\nsleep 60\n")
    (fake / "python").chmod(0o755)
    for name in ("submission", "results"):
        shutil.rmtree(tree.root / name, ignore_errors=True)
        (tree.root / name).mkdir(mode=0o700)
    proc = subprocess.Popen(["bash", str(tree.root / "source" / "run_autograder")], cwd=tree.root,
                            env=tree.env(BERAS_VENV=str(tmp_path / "venv")), start_new_session=True)
    results = tree.root / "results" / "results.json"
    try:
        for _ in range(200):
            if results.exists():
                break
            time.sleep(0.05)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    doc = harness.validate(json.loads(results.read_text()))
    assert doc["output"].startswith("**Grading did not finish.**") and doc["score"] == 0


def test_a_grading_killed_alone_is_cleaned_up_and_reported(tree, tmp_path):
    # The OOM killer kills the grading process only: run_autograder, which outlives it,
    # removes the folders it recorded and says it was killed.
    fake = tmp_path / "venv" / "bin"
    fake.mkdir(parents=True)
    left = tmp_path / "beras-sandbox-left"
    (fake / "python").write_text(
        f'#!/bin/sh\nif [ "$2" = "autograder" ]; then\n'
        f'  mkdir -m 700 "{left}" && echo "{left}" >> "$AUTOGRADER_TEMP_RECORD" && kill -9 $$\nfi\n'
        f'exec "{sys.executable}" "$@"\n')
    (fake / "python").chmod(0o755)
    doc, proc = tree.run(harness.CASES / "submissions" / "correct", BERAS_VENV=str(tmp_path / "venv"))
    assert proc.returncode == 0, proc.stdout
    harness.validate(doc)
    assert doc["output"].startswith("**Grading did not finish:** the grading process was killed by SIGKILL")
    assert not left.exists()


def test_each_grading_runs_as_a_user_of_its_own_with_a_random_uid_removed_after_it(tree):
    """Docker gives containers no user namespace: RLIMIT_NPROC (and the kernel's other per-uid
    accounting) counts a uid across the host, so a uid fixed in the image would let a fork
    bomb held at the cap in one container fail another student's fork. Without a configured
    user, every grading makes a user of its own, far above the image's users, and removes it."""
    static = {entry.pw_uid for entry in pwd.getpwall()}
    seen = []
    for _ in range(2):
        doc, proc = tree.run(harness.CASES / "submissions" / "correct", AUTOGRADER_SANDBOX_USER="")
        assert harness.validate(doc)["score"] == 10, proc.stdout[-3000:]
        found = re.search(r"student code runs as user (\S+) \(uid (\d+)\)", proc.stdout)
        assert found, proc.stdout[-3000:]
        name, uid = found.group(1), int(found.group(2))
        seen.append(uid)
        assert uid >= 1 << 20 and uid not in static, (name, uid)
        with pytest.raises(KeyError):
            pwd.getpwnam(name)  # removed with its grading
        with pytest.raises(KeyError):
            grp.getgrgid(uid)
        assert harness.processes_of(uid) == [] and harness.ipc_objects_of(uid) == []
    assert seen[0] != seen[1]


# ---------------------------------------------------------------- this course's zip and its data


def test_autograder_zip_with_mnist_grades_on_it_without_network(full_mnist_dir):
    """The real Beras course: autograder.zip built with the four MNIST files, set up and run in
    a relocated Gradescope tree with no way to download (a dead proxy) and no BERAS_MNIST_DIR:
    12.1 trains on the bundled 60,000 training images and nothing says fallback."""
    top = harness.public_tmp()
    try:
        dist, root = top / "dist", top / "root"
        built = harness.engine("build", "--out-dir", dist, env={"BERAS_MNIST_DIR": str(full_mnist_dir)})
        assert built.returncode == 0, built.stderr
        (root / "source").mkdir(parents=True)
        with zipfile.ZipFile(dist / "autograder.zip") as zf:
            zf.extractall(root / "source")
            for info in zf.infolist():
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    (root / "source" / info.filename).chmod(mode)
        env = {k: v for k, v in os.environ.items() if k not in ("BERAS_MNIST_DIR", "AUTOGRADER_SKIP_DATA")}
        dead = "http://127.0.0.1:9"  # nothing listens: any download attempt fails at once
        env.update(AUTOGRADER_ROOT=str(root), BERAS_VENV=str(Path(sys.executable).parent.parent),
                   AUTOGRADER_SANDBOX_USER=f"{harness.E2E_USER}-data", HTTP_PROXY=dead, HTTPS_PROXY=dead,
                   http_proxy=dead, https_proxy=dead)
        setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True,
                               text=True, timeout=600)
        assert setup.returncode == 0, setup.stdout + setup.stderr
        assert "MNIST bundled in the zip" in setup.stdout and "download" not in setup.stdout.lower()
        shutil.copytree(harness.REPO / "reference", root / "submission",
                        ignore=shutil.ignore_patterns("__pycache__", "*.npy"))
        proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], cwd=root, env=env,
                              capture_output=True, text=True, timeout=900)
        doc = json.loads((root / "results" / "results.json").read_text())
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        training = next(t for t in doc["tests"] if t.get("number") == "12.1")
        assert training["name"].startswith("end-to-end training on MNIST, tiers 75/85/90%"), training["name"]
        # It read the bundled files (all four: the full training set), and names no grading-machine path.
        assert "(MNIST: 60,000 training and 10,000 test images)" in training["output"], training["output"]
        assert str(root) not in training["output"]
        assert training["score"] == training["max_score"]
        assert "FALLBACK" not in json.dumps(doc)
    finally:
        shutil.rmtree(top, ignore_errors=True)
