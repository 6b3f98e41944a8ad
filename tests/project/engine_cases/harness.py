"""Helpers for the engine's tests: the test course, submissions, schema checks, and a real
Gradescope tree (setup.sh + run_autograder) relocated under /tmp."""
from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import jsonschema

CASES = Path(__file__).resolve().parent
REPO = CASES.parents[2]
COURSE = CASES / "course"
COURSE_CFG = COURSE / "autograder.cfg"
SCHEMA = json.loads((REPO / "autograder" / "results.schema.json").read_text())
SECRET = "SECRET-REFERENCE-7f3a"
COURSE_MAX = 10
E2E_USER = "ag-engine-e2e"  # our own sandbox users: leftovers are then ours to count, and
TEST_USER = "ag-engine-tests"  # no other test's sweep of its sandbox user can touch ours


@contextlib.contextmanager
def folder_sandbox_users_reach(prefix: str, mode: int):
    """A root-owned folder of the temporary folder, with `mode`, removed afterwards: pytest's
    tmp_path lies under a 0700 folder that no sandbox user can traverse."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(mode)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def validate(doc: dict) -> dict:
    """Gradescope's schema, plus what our engine always promises on top of it."""
    jsonschema.validate(doc, SCHEMA)
    assert isinstance(doc["score"], (int, float)) and isinstance(doc["execution_time"], (int, float))
    assert doc["output_format"] == "md" and doc["stdout_visibility"] == "hidden"
    for test in doc["tests"]:
        for key in ("score", "max_score", "status", "name", "output", "output_format", "tags", "visibility"):
            assert key in test, f"test {test.get('name')} lacks {key}"
        assert test["output_format"] == "md"
        assert 0 <= test["score"] <= test["max_score"] or test["max_score"] == 0 == test["score"]
    return doc


def by_function(doc: dict) -> dict[str, dict]:
    """Tests keyed by their pytest function name (node id without file and parameters)."""
    out = {}
    for test in doc["tests"]:
        nodeid = test["extra_data"]["nodeid"]
        out[nodeid.split("::")[-1].split("[")[0]] = test
    return out


def make_submission(dest: Path, case: str | None = None, remove: tuple[str, ...] = (), base: str = "correct") -> Path:
    """submissions/<base>, with hostile/<case> laid over it and `remove` deleted."""
    shutil.copytree(CASES / "submissions" / base, dest)
    if case:
        shutil.copytree(CASES / "hostile" / case, dest, dirs_exist_ok=True)
    for rel in remove:
        (dest / rel).unlink()
    return dest


def engine(*args, cwd: Path = REPO, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m autograder ARGS` in a child process."""
    full_env = {**os.environ, "AUTOGRADER_SANDBOX_USER": TEST_USER, **(env or {})}
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def public_tmp() -> Path:
    """A world-traversable temporary folder (pytest's own tmp is private to root, and the
    sandbox user must reach what lies below)."""
    path = Path(tempfile.mkdtemp(prefix="ag-engine-"))  # the run's temporary folder: conftest.py removes it
    path.chmod(0o755)
    return path


def processes_of(uid: int) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    pids.append(int(name))
            except FileNotFoundError:
                pass
    return pids


def ipc_objects_of(uid: int) -> list[str]:
    """System V IPC objects (shared memory, message queues, semaphore sets) that `uid` owns
    or created, as `ipcs -a` lists them: "shm <id>", "msg <id>", "sem <id>"."""
    found = []
    for kind in ("shm", "msg", "sem"):
        with open(f"/proc/sysvipc/{kind}") as table:
            header, *rows = [line.split() for line in table]
        for row in rows:
            fields = dict(zip(header, row))
            if int(fields["uid"]) == uid or int(fields["cuid"]) == uid:
                found.append(f"{kind} {fields[kind + 'id' if kind != 'msg' else 'msqid']}")
    return found


class GradescopeTree:
    """AUTOGRADER_ROOT with source/ from our autograder.zip, set up by the real setup.sh."""

    def __init__(self, top: Path, config: Path = COURSE_CFG, user: str = E2E_USER):
        self.top = top
        self.root = top / "root"
        self.user = user
        dist = top / "dist"
        built = engine("build", "--config", config, "--out-dir", dist)
        assert built.returncode == 0, built.stderr
        self.zip = dist / "autograder.zip"
        (self.root / "source").mkdir(parents=True)
        with zipfile.ZipFile(self.zip) as zf:
            zf.extractall(self.root / "source")
            for info in zf.infolist():  # zipfile drops modes; Gradescope's unzip keeps them
                mode = (info.external_attr >> 16) & 0o777
                if mode:
                    (self.root / "source" / info.filename).chmod(mode)
        self.setup = subprocess.run(["bash", str(self.root / "source" / "setup.sh")], env=self.env(),
                                    capture_output=True, text=True, timeout=600)

    def env(self, **extra) -> dict:
        return {**os.environ, "AUTOGRADER_ROOT": str(self.root), "AUTOGRADER_SKIP_DATA": "1",
                "BERAS_VENV": str(Path(sys.executable).parent.parent),
                "AUTOGRADER_SANDBOX_USER": self.user, **extra}

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.user).pw_uid

    def run(self, submission: Path | None, timeout: float = 300, **env) -> tuple[dict, subprocess.CompletedProcess]:
        """A fresh submission/ and results/ (a new container), then run_autograder."""
        for name in ("submission", "results"):
            shutil.rmtree(self.root / name, ignore_errors=True)
        target = self.root / "submission"
        if submission is None:
            target.mkdir()
        elif submission.is_dir():
            shutil.copytree(submission, target)
        else:
            target.mkdir()
            shutil.copy(submission, target / submission.name)
        (self.root / "results").mkdir(mode=0o700)
        proc = subprocess.run(["bash", str(self.root / "source" / "run_autograder")], cwd=self.root,
                              env=self.env(**env), capture_output=True, text=True, timeout=timeout)
        doc = json.loads((self.root / "results" / "results.json").read_text())
        return doc, proc
