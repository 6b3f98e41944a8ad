"""What the bench runs: a relocated Gradescope tree, gradings through run_autograder, small
remote calls, and TA regrades. Each returns plain figures; bench/run.py compares them.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import small_call
from memory import Peak, TreeMemory

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PYTHON = sys.executable
SANDBOX_USER = "beras-bench"  # its own user: a concurrent test run's sweep never meets ours
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")  # as the sandbox sets for workers


# ---------------------------------------------------------------- the relocated tree

@dataclass
class Tree:
    """A Gradescope root anywhere (AUTOGRADER_ROOT): source/ from autograder.zip, setup.sh run."""
    root: Path

    @property
    def source(self) -> Path:
        return self.root / "source"

    @classmethod
    def build(cls, workdir: Path, overrides: Optional[Dict[str, Dict[str, str]]] = None) -> "Tree":
        """Build autograder.zip from this checkout, unpack it as Gradescope does, run setup.sh.
        `overrides` edits the copy's autograder.cfg ({section: {key: value}}), e.g. a short
        call timeout for the quick configuration."""
        dist, root = workdir / "dist", workdir / "gradescope"
        _run([PYTHON, "-m", "autograder", "build", "--out-dir", str(dist), "--allow-fallback-data"], cwd=REPO)
        root.mkdir(parents=True)
        with zipfile.ZipFile(dist / "autograder.zip") as archive:
            archive.extractall(root / "source")
        shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
        tree = cls(root)
        if overrides:
            tree.configure(overrides)
        env = dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_SKIP_DATA="1",
                   AUTOGRADER_SANDBOX_USER=SANDBOX_USER, BERAS_VENV=str(Path(PYTHON).parent.parent))
        _run(["bash", str(root / "source" / "setup.sh")], cwd=root / "source", env=env)
        return tree

    def configure(self, overrides: Dict[str, Dict[str, str]]) -> None:
        import configparser
        path = self.source / "autograder.cfg"
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path)
        for section, values in overrides.items():
            for key, value in values.items():
                parser[section][key] = str(value)
        with open(path, "w") as handle:
            parser.write(handle)

    def sandbox_setting(self, key: str, default: float) -> float:
        import configparser
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(self.source / "autograder.cfg")
        return float(parser.get("sandbox", key, fallback=default))


def _run(cmd, **kwargs) -> str:
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    return proc.stdout


def grading_env(tree: Tree, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ)
    env.update(AUTOGRADER_ROOT=str(tree.root), AUTOGRADER_SANDBOX_USER=SANDBOX_USER,
               BERAS_VENV=str(Path(PYTHON).parent.parent))
    env.pop("PYTEST_ADDOPTS", None)
    env.update(extra or {})
    return env


# ---------------------------------------------------------------- one grading

@dataclass
class GradeRun:
    label: str
    wall: float                 # run_autograder, start to exit
    cpu: float                  # user + system of the whole tree (waited-for descendants)
    peak: Peak
    results: dict
    timings: Optional[dict]
    started: float
    ended: float
    log: str

    @property
    def score(self) -> float:
        return float(self.results.get("score", 0))

    @property
    def max_score(self) -> float:
        return float(sum(t.get("max_score", 0) for t in self.results.get("tests", [])))

    def count_outputs(self, needle: str) -> int:
        return sum(1 for t in self.results.get("tests", []) if needle in str(t.get("output", "")))


def run_autograder(tree: Tree, submission: Path, label: str, *, in_process: bool = False,
                   pytest_args: str = "", mnist_dir: Optional[str] = None, timeout_s: float = 1800.0,
                   env: Optional[Dict[str, str]] = None) -> GradeRun:
    """Grade `submission` exactly as Gradescope would (submission/ and results/ reset, then
    run_autograder), with the phase timer and the memory sampler watching."""
    for name in ("submission", "results"):
        shutil.rmtree(tree.root / name, ignore_errors=True)
    shutil.copytree(submission, tree.root / "submission", ignore=shutil.ignore_patterns("__pycache__"))
    timings_path = tree.root / "bench-timings.json"
    timings_path.unlink(missing_ok=True)
    addopts = " ".join(x for x in (pytest_args, "--in-process" if in_process else "") if x)
    extra = {"PYTHONPATH": str(BENCH), "PYTEST_PLUGINS": "timing_plugin",
             "AUTOGRADER_BENCH_TIMINGS": str(timings_path)}
    if addopts:
        extra["PYTEST_ADDOPTS"] = addopts
    if mnist_dir:
        extra["BERAS_MNIST_DIR"] = mnist_dir
    extra.update(env or {})
    started = time.time()
    proc = subprocess.Popen(["bash", str(tree.root / "run_autograder")], cwd=tree.root,
                            env=grading_env(tree, extra), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    with TreeMemory(proc.pid) as memory:
        log = _read_all(proc, timeout_s)
        _, status, usage = os.wait4(proc.pid, 0)
    ended = time.time()
    proc.returncode = os.waitstatus_to_exitcode(status)
    results = json.loads((tree.root / "results" / "results.json").read_text())
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else None
    return GradeRun(label, ended - started, usage.ru_utime + usage.ru_stime, memory.peak,
                    results, timings, started, ended, log)


def _read_all(proc: subprocess.Popen, timeout_s: float) -> str:
    """Its output until it ends; past `timeout_s` the whole process group is killed."""
    timer = threading.Timer(timeout_s, _kill_group, [proc.pid])
    timer.start()
    try:
        return proc.stdout.read().decode("utf-8", "replace")
    finally:
        timer.cancel()
        proc.stdout.close()


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------- submissions

def hanging_submission(reference: Path, target: Path, at_import: bool = False) -> Path:
    """The reference with an endless loop: in Sigmoid.forward, or at the top level of
    beras/activations.py (so every import of beras hangs)."""
    shutil.copytree(reference, target, ignore=shutil.ignore_patterns("__pycache__"))
    path = target / "beras" / "activations.py"
    text = path.read_text()
    anchor = "import numpy as np\n" if at_import else "e = np.exp(-np.abs(x))"
    if text.count(anchor) != 1:
        raise RuntimeError(f"cannot plant the endless loop: {anchor!r} not found once in {path}")
    indent = text[:text.index(anchor)].rsplit("\n", 1)[1]
    loop = f"while True:\n{indent}    pass\n{indent}"
    path.write_text(text.replace(anchor, anchor + loop if at_import else loop + anchor))
    return target


HUGE_REPLY = '''

def _huge_forward(self, x):
    return np.ones(256 * 2**20, dtype=bool)  # 256 MB, under the 256 MB message cap


Sigmoid.forward = _huge_forward
'''


def huge_reply_submission(reference: Path, target: Path) -> Path:
    """The reference whose Sigmoid.forward returns one 256 MB boolean array (issue 18 #3: it
    once pushed the grading process to 7-14 GB)."""
    shutil.copytree(reference, target, ignore=shutil.ignore_patterns("__pycache__"))
    path = target / "beras" / "activations.py"
    path.write_text(path.read_text() + HUGE_REPLY)
    return target


# ---------------------------------------------------------------- small calls

@dataclass
class Latency:
    median_us: float
    p90_us: float
    calls: int
    worker_cycle_ms: float      # a fresh worker: fork, set up, one import, stop


def round_trip(submission: Path, in_process: bool, calls: int) -> Latency:
    """One small remote call (abs of an int: tiny request, tiny reply), many times; measured
    by small_call.py, the driver --compare runs for each revision too."""
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("AUTOGRADER_SANDBOX_USER", SANDBOX_USER)
    figures = small_call.measure(submission, calls, 10, in_process)
    return Latency(figures["round_trip_us"], figures["round_trip_p90_us"], calls, figures["worker_ms"])


# ---------------------------------------------------------------- regrade

@dataclass
class Regrade:
    jobs: int
    submissions: int
    wall: float
    graded: int
    scores: List[float] = field(default_factory=list)

    @property
    def per_minute(self) -> float:
        return self.submissions / self.wall * 60 if self.wall > 0 else 0.0


def make_export(folder: Path, submissions: List[Path]) -> Path:
    """A Gradescope "Export Submissions" folder: one folder per submission + metadata."""
    folder.mkdir(parents=True)
    lines = []
    for i, sub in enumerate(submissions):
        name = f"submission_{1000 + i}"
        shutil.copytree(sub, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
        lines += [f"{name}:", "  :submitters:", f"  - :name: Bench Student {i}", f"    :sid: '{i}'",
                  f"    :email: bench{i}@example.edu", "  :created_at: 2026-10-01 12:00:00.000000000 -04:00",
                  "  :score: 0.0"]
    (folder / "submission_metadata.yml").write_text("\n".join(lines) + "\n")
    return folder


def regrade(tree: Tree, export: Path, out: Path, jobs: int, *, pytest_args: List[str] = (),
            mnist_dir: Optional[str] = None) -> Regrade:
    cmd = [PYTHON, "-m", "autograder", "regrade", str(export), "--out", str(out), "--jobs", str(jobs)]
    for arg in pytest_args:
        cmd.append(f"--pytest-arg={arg}")
    env = grading_env(tree, {"BERAS_MNIST_DIR": mnist_dir} if mnist_dir else None)
    started = time.monotonic()
    _run(cmd, cwd=tree.source, env=env)
    wall = time.monotonic() - started
    import csv
    with open(out / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    graded = sum(1 for r in rows if r.get("status") == "graded")
    scores = [float(r["total"]) for r in rows if r.get("total") not in (None, "")]
    return Regrade(jobs, len(rows), wall, graded, scores)
