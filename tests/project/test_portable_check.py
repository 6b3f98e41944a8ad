"""The portable sandbox (autograder/sandbox/grader/portable.py): a student's `check` on macOS and
Windows, tested here on Linux by forcing it with AUTOGRADER_PORTABLE=1, in real processes.

It must grade like the full sandbox where a student's own code is concerned (the reference
100, the template 0, a hang a timeout of that test only, a crash named at the student's file
and line), and the kit's `check` must import nothing Windows lacks: the kit test runs it
under a sitecustomize that makes `resource`, `fcntl`, `pwd` and `grp` unimportable, as an
ordinary user (as on a laptop; as root the portable sandbox would claim a sandbox user).
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from engine_cases import harness

PORTABLE = {"AUTOGRADER_PORTABLE": "1"}
POSIX_ONLY = ("resource", "fcntl", "pwd", "grp")
STUDENT = "beras-portable-student"  # the laptop's owner, when the tests run as root
SANDBOX = harness.REPO / "autograder" / "sandbox"
POISON = f'''
import atexit, os, sys
BLOCKED = {POSIX_ONLY!r}
class _WindowsHasNoSuchModule:
    def find_spec(self, name, path=None, target=None):
        if name in BLOCKED:
            frame = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename.startswith("<frozen"):
                frame = frame.f_back
            with open(os.environ["POISON_LOG"], "a") as log:
                log.write("imported %s from %s\\n" % (name, frame.f_code.co_filename if frame else "?"))
            raise ModuleNotFoundError(f"No module named {{name!r}} (as on Windows)")
for name in BLOCKED:
    sys.modules.pop(name, None)
sys.meta_path.insert(0, _WindowsHasNoSuchModule())
@atexit.register
def _which_sandbox():
    with open(os.environ["POISON_LOG"], "a") as log:
        log.write("active; portable sandbox used: %s\\n" % ("autograder.sandbox.grader.pipe_channel" in sys.modules))
'''


def grade_portable(submission: Path, out: Path, *args) -> tuple[dict, subprocess.CompletedProcess]:
    proc = harness.engine("grade", submission, "--out", out, *args, env=PORTABLE, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "sandbox: PORTABLE" in proc.stdout  # the staff line: this run used the portable sandbox
    return harness.validate(json.loads(out.read_text())), proc


# ---------------------------------------------------------------- the Beras suite, whole


def test_portable_mode_grades_the_reference_100_and_the_template_0(tmp_path):
    reference, _ = grade_portable(harness.REPO / "reference", tmp_path / "reference.json")
    assert reference["score"] == 100, [(t["number"], t["output"][:300]) for t in reference["tests"]
                                       if t["score"] < t["max_score"]]
    template, _ = grade_portable(harness.REPO / "student_template", tmp_path / "template.json")
    assert template["score"] == 0
    assert "NotImplementedError" in template["tests"][0]["output"]


# ---------------------------------------------------------------- a student's own code


def test_a_hanging_function_is_a_timeout_of_its_tests_only(tmp_path):
    doc, _ = grade_portable(harness.make_submission(tmp_path / "sub", "infinite_loop"), tmp_path / "r.json",
                            "--config", harness.COURSE_CFG)
    tests = harness.by_function(doc)
    assert tests["test_add"]["score"] == 0
    assert "did not finish within 2 s" in tests["test_add"]["output"]  # the course's call_timeout_s
    for name in ("test_scale", "test_counter_keeps_identity", "test_vec_norm"):  # no add() in them
        assert tests[name]["status"] == "passed", (name, tests[name]["output"])


def test_a_crash_is_named_at_the_students_file_and_line(tmp_path):
    submission = harness.make_submission(tmp_path / "sub")
    (submission / "calc" / "__init__.py").write_text(
        "from calc.good import Counter, SPEED, mean, scale  # noqa: F401\n"
        "\n"
        "\n"
        "def add(a, b):\n"
        "    return a / 0\n")
    doc, _ = grade_portable(submission, tmp_path / "r.json", "--config", harness.COURSE_CFG)
    output = harness.by_function(doc)["test_add"]["output"]
    assert "ZeroDivisionError" in output and "`calc/__init__.py` line 5" in output, output
    assert "return a / 0" in output and "pipe_channel" not in output and "_agsandbox" not in output


def test_a_process_that_exits_fails_that_test_and_the_next_worker_is_fresh(tmp_path):
    doc, _ = grade_portable(harness.make_submission(tmp_path / "sub", "os_exit_in_call"), tmp_path / "r.json",
                            "--config", harness.COURSE_CFG)
    tests = harness.by_function(doc)  # scale() calls os._exit(1)
    assert tests["test_scale"]["score"] == 0 and "exited (status 1" in tests["test_scale"]["output"]
    for name in ("test_add", "test_counter_keeps_identity", "test_vec_norm"):  # later tests, fresh workers
        assert tests[name]["status"] == "passed", (name, tests[name]["output"])


# ---------------------------------------------------------------- the kit's check


def as_a_student(folder: Path):
    """(user options for subprocess, environment): the folder's owner, never root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    if os.geteuid() != 0:
        return {}, env
    from autograder.sandbox.layers.sandbox_user import ensure_sandbox_user
    user = ensure_sandbox_user(STUDENT)
    subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(folder)], check=True)
    env.update(HOME=str(folder), USER=STUDENT, LOGNAME=STUDENT)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}, env


def test_check_in_a_built_kit_runs_in_portable_mode_without_posix_only_modules(tmp_path):
    dist = tmp_path / "dist"
    built = harness.engine("build", "--out-dir", dist, "--allow-fallback-data", timeout=900)
    assert built.returncode == 0, built.stderr[-3000:]
    top = harness.public_tmp()
    try:
        kit = top / "kit"
        with zipfile.ZipFile(dist / "student-kit.zip") as zf:
            zf.extractall(kit)
        # The student's finished work: the reference's files over the handout's.
        shutil.copytree(harness.REPO / "reference", kit, dirs_exist_ok=True)
        poison = top / "poison"
        poison.mkdir()
        (poison / "sitecustomize.py").write_text(POISON)
        log = top / "poison.log"
        log.touch()
        options, env = as_a_student(top)
        env.update(PORTABLE, PYTHONPATH=str(poison), POISON_LOG=str(log))
        env.pop("AUTOGRADER_SANDBOX_USER", None)
        proc = subprocess.run([sys.executable, "-m", "autograder", "check"], cwd=kit, env=env,
                              capture_output=True, text=True, timeout=900, **options)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
        assert "All public tests pass" in proc.stdout
        lines = log.read_text().splitlines()
        assert lines[-1] == "active; portable sandbox used: True"
        # The standard library and pytest may try them (`try: import fcntl`, as on Windows);
        # nothing of the kit's own may.
        ours = [line for line in lines[:-1] if str(kit) in line]
        assert ours == [], ours
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_the_sandbox_imports_no_posix_only_module_at_module_level():
    """What the kit imports must import on Windows: a POSIX-only module is imported inside
    the function that needs it (the kit run above checks the trusted side; this checks the
    worker's files too, which run without the sitecustomize)."""
    found = []
    for path in sorted(SANDBOX.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:  # module level, outside any `if`
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in POSIX_ONLY]
    assert found == []


# ---------------------------------------------------------------- never on Gradescope


def test_gradescope_refuses_the_portable_mode(tmp_path):
    (tmp_path / "submission").mkdir()
    shutil.copytree(harness.CASES / "submissions" / "correct", tmp_path / "submission", dirs_exist_ok=True)
    (tmp_path / "results").mkdir()
    proc = harness.engine("gradescope", "--config", harness.COURSE_CFG,
                          env={**PORTABLE, "AUTOGRADER_ROOT": str(tmp_path)})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    doc = harness.validate(json.loads((tmp_path / "results" / "results.json").read_text()))
    assert doc["score"] == 0 and doc["output"].startswith("**Grader error.**")
    assert "AUTOGRADER_PORTABLE" in doc["output"] and doc["tests"] == []


@pytest.mark.parametrize("value, portable", [("1", True), ("", False), ("0", False)])
def test_the_backend_is_chosen_in_one_place(monkeypatch, value, portable):
    from autograder.sandbox import Sandbox, SandboxConfig
    from autograder.sandbox.grader import backend

    monkeypatch.setenv("AUTOGRADER_PORTABLE", value)
    assert backend.use_portable() is portable  # on Linux, where the full sandbox runs
    assert backend.use_portable(SandboxConfig(in_process=True)) is False
    with Sandbox(harness.CASES / "submissions" / "correct", SandboxConfig()) as box:
        assert type(box).__name__ == ("PortableSandbox" if portable else "Sandbox")
        assert ("portable" in box.layers) is portable


def test_portable_output_is_whole_at_each_reply_capped_and_free_of_sync_marks(monkeypatch):
    from autograder.sandbox import Sandbox, SandboxConfig

    monkeypatch.setenv("AUTOGRADER_PORTABLE", "1")
    with Sandbox(harness.CASES / "submissions" / "correct", SandboxConfig(output_kb=1)) as box, \
            box.worker() as w:
        builtins = w.import_module("builtins")
        for i in range(20):  # a thread reads the output pipe: each reply waits for its output
            w.call(builtins.print, f"line {i}")
            assert w.output().splitlines() == [f"line {k}" for k in range(i + 1)]
        w.call(builtins.print, "x" * 5000)
        assert w.output().endswith("more bytes of output not shown]\n")


def test_a_portable_worker_writes_in_a_private_copy_of_the_submission(monkeypatch):
    """As in the full sandbox (test_sandbox_isolation.py): the worker's current directory is
    its own writable copy of the submission, gone after it; imports come from the copy every
    worker shares, which stays unchanged. A student's laptop and Gradescope agree on 8.4's
    `np.save("predictions.npy", ...)`."""
    from autograder.sandbox import Sandbox, SandboxConfig, StudentError, fetch

    monkeypatch.setenv("AUTOGRADER_PORTABLE", "1")
    with Sandbox(harness.REPO / "tests" / "project" / "sandbox_cases" / "hostile", SandboxConfig()) as box:
        original = {p.name: p.read_bytes() for p in (box.sandbox_dir / "submission").iterdir()}
        with box.worker() as w:
            os_remote, h = w.import_module("os"), w.import_module("hostile")
            cwd = fetch(os_remote.getcwd())
            assert Path(cwd).name == "submission" and Path(cwd) != box.sandbox_dir / "submission"
            w.import_module("numpy").save("predictions.npy", [1.0, 2.0])
            fetch(h.write_file("hostile.py", "planted = True\n"))
            fetch(h.write_file("planted_module.py", "planted = True\n"))
            assert "predictions.npy" in fetch(os_remote.listdir("."))
            with pytest.raises(StudentError) as info:
                w.import_module("planted_module")
            assert info.value.type_name == "ModuleNotFoundError"
        with box.worker() as w:
            os_remote = w.import_module("os")
            assert not fetch(os_remote.path.exists(cwd))
            assert sorted(fetch(os_remote.listdir("."))) == sorted(original)
        assert {p.name: p.read_bytes() for p in (box.sandbox_dir / "submission").iterdir()} == original


def test_a_portable_worker_that_fills_the_disk_is_stopped(monkeypatch):
    """Issue 18: no tmpfs caps a portable worker's folders either; the trusted side measures
    them while a request runs (layers/disk_budget.py) and stops the worker past scratch_mb."""
    from autograder.sandbox import Sandbox, SandboxConfig, WorkerCrashed, fetch

    monkeypatch.setenv("AUTOGRADER_PORTABLE", "1")
    with Sandbox(harness.REPO / "tests" / "project" / "sandbox_cases" / "hostile", SandboxConfig(scratch_mb=8)) as box:
        with box.worker() as w:
            with pytest.raises(WorkerCrashed) as info:
                fetch(w.import_module("hostile").fill_home(400))
        assert "wrote more than 8 MB of files" in info.value.message
        with box.worker() as w:  # the next worker starts with an empty folder
            assert fetch(w.import_module("hostile").fill_home(2)) == (2, None)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="oom_score_adj is Linux's")
def test_a_portable_worker_is_the_oom_killers_first_choice(monkeypatch):
    """As in the full sandbox: when memory runs out, the kernel ends the worker, not `check`."""
    from autograder.sandbox import Sandbox, SandboxConfig, fetch

    monkeypatch.setenv("AUTOGRADER_PORTABLE", "1")
    with Sandbox(harness.REPO / "tests" / "project" / "sandbox_cases" / "hostile", SandboxConfig()) as box:
        with box.worker() as w:
            assert fetch(w.import_module("hostile").read_file("/proc/self/oom_score_adj")).strip() == "1000"
