"""Two revisions side by side in one run: what a change costs, with the machine's noise shared.

    python3 dev.py run bench/run.py --compare REV [--quick] [--reps N] [--only NAMES] [--update-readme]

REV ("before") is checked out into a temporary git worktree (removed afterwards, whatever
happens); "after" is this working tree, uncommitted changes included. Each repetition runs
every measurement once for each side, alternating which side goes first (ABBA...), so a burst
of load from another user of the machine, or a cache warmed by the first run, falls on both
alike. Both sides run with the same interpreter (this venv) and are driven only through
interfaces both have: the CLI (`python -m autograder grade SUBMISSION --out FILE`, with cwd
and PYTHONPATH at the checkout) and, for the small call, bench/small_call.py, which uses the
public `autograder.sandbox` API. Each side grades its own reference with its own suite.

Measurements (names for --only):
  grade             the reference's full grade, isolated: wall, CPU of the whole tree, peak
                    RSS and PSS of the tree (bench/memory.py)
  grade-in-process  the same in the benchmark-only in-process mode (student code in the
                    grading process, one BLAS thread as a worker has): the floor isolation adds to
  small-call        the sandbox's start, a small call's round trip, a fresh worker's life
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional

from memory import TreeMemory

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PYTHON = sys.executable
MB = 1024 * 1024
MEASUREMENTS = ("grade", "grade-in-process", "small-call")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
ISOLATION_TARGET = 1.5  # issue 10: isolated within 1.5x of in-process

# (measurement, key, label, unit): the rows of the table, in order
ROWS = (
    ("grade", "wall", "full grade of the reference, isolated: wall", "s"),
    ("grade", "cpu", "  the same, CPU of the whole tree", "s"),
    ("grade", "rss_mb", "  peak RSS, whole tree (sum over processes)", "MB"),
    ("grade", "pss_mb", "  peak PSS, whole tree", "MB"),
    ("grade-in-process", "wall", "full grade of the reference, in-process: wall", "s"),
    ("grade-in-process", "cpu", "  the same, CPU", "s"),
    ("small-call", "round_trip_us", "small call's round trip, median", "µs"),
    ("small-call", "round_trip_p90_us", "  90th percentile", "µs"),
    ("small-call", "worker_ms", "fresh worker: fork, set up, one import, stop", "ms"),
    ("small-call", "sandbox_start_ms", "sandbox start: zygote and first worker", "ms"),
)


def log(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


# ---------------------------------------------------------------- the two sides

@dataclass
class Side:
    name: str          # "before" or "after"
    root: Path         # the checkout: cwd and PYTHONPATH of everything run for this side
    revision: str      # what it is, for the table


@contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """REV checked out (detached) in a temporary git worktree, removed on the way out."""
    parent = Path(tempfile.mkdtemp(prefix="beras-bench-compare-"))
    path = parent / "before"
    git("worktree", "add", "--detach", "--quiet", str(path), rev)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=REPO,
                       capture_output=True)
        shutil.rmtree(parent, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=REPO, capture_output=True)


def describe(rev: str, cwd: Path = REPO) -> str:
    """`abc1234 (2026-11-26) subject`, the subject cut at a word to fit a table's caption."""
    text = git("log", "-1", "--format=%h (%cs) %s", rev, cwd=cwd)
    return text if len(text) <= 90 else text[:90].rsplit(" ", 1)[0] + " ..."


def working_tree_label() -> str:
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return describe("HEAD") + (" + uncommitted changes" if dirty else "")


# ---------------------------------------------------------------- one measurement of one side

def side_env(side: Side, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        env.pop(name, None)
    env["PYTHONPATH"] = str(side.root)
    env.setdefault("AUTOGRADER_SANDBOX_USER", "beras-bench")
    env.update(extra or {})
    return env


def run_grade(side: Side, in_process: bool, pytest_args: str, workdir: Path) -> dict:
    """`python -m autograder grade reference --out FILE` in the side's checkout, watched by
    the memory sampler; wall and CPU (wait4) of the whole tree."""
    out = workdir / f"{side.name}-{'in' if in_process else 'iso'}.json"
    out.unlink(missing_ok=True)
    cmd = [PYTHON, "-m", "autograder", "grade", "reference", "--out", str(out), "--quiet"]
    extra = {"PYTEST_ADDOPTS": pytest_args} if pytest_args else {}
    if in_process:
        cmd.append("--in-process")
        # the worker runs student code with one BLAS thread; in-process does the same, or the
        # ratio would measure thread oversubscription
        extra.update({v: "1" for v in THREAD_VARS})
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=side.root, env=side_env(side, extra), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    with TreeMemory(proc.pid) as memory:
        output = proc.stdout.read().decode("utf-8", "replace")
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.stdout.close()
    code = os.waitstatus_to_exitcode(status)
    try:
        results = json.loads(out.read_text())
    except (OSError, ValueError):
        results = {}
    if code != 0 or "tests" not in results:
        raise RuntimeError(f"{side.name} ({side.revision}): grade exited {code}:\n{output[-3000:]}")
    tests = results["tests"]
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mb": memory.peak.rss / MB, "pss_mb": memory.peak.pss / MB,
            "score": float(results.get("score", 0)),
            "max_score": float(sum(t.get("max_score", 0) for t in tests)), "tests": len(tests)}


def run_small_call(side: Side, calls: int, cycles: int) -> dict:
    cmd = [PYTHON, str(BENCH / "small_call.py"), str(side.root / "reference"), str(calls), str(cycles)]
    proc = subprocess.run(cmd, cwd=side.root, env=side_env(side), capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{side.name} ({side.revision}): small_call.py exited {proc.returncode}:\n"
                           f"{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    measured = Path(figures.pop("autograder")).resolve()
    if measured != (side.root / "autograder").resolve():  # the driver measured the wrong revision
        raise RuntimeError(f"{side.name}: small_call.py imported {measured}, not {side.root}/autograder")
    return figures


# ---------------------------------------------------------------- the interleaved run

def config(quick: bool, reps: Optional[int], quick_tests: str) -> dict:
    if quick:
        cfg = {"name": "quick", "pytest_args": f"-k '{quick_tests}'", "calls": 500, "cycles": 5, "reps": 2}
    else:
        cfg = {"name": "full", "pytest_args": "", "calls": 5000, "cycles": 10, "reps": 5}
    if reps is not None:
        cfg["reps"] = reps
    return cfg


def measure(before_rev: str, machine: dict, *, quick: bool = False, reps: Optional[int] = None,
            only: Optional[List[str]] = None, quick_tests: str = "") -> dict:
    """Every measurement of `only` (default: all), `reps` times for both sides, interleaved.
    `machine` is bench/run.py's description of this machine; `quick_tests` its -k selection."""
    cfg = config(quick, reps, quick_tests)
    names = list(only or MEASUREMENTS)
    unknown = sorted(set(names) - set(MEASUREMENTS))
    if unknown:
        raise ValueError(f"unknown measurement(s) {unknown}; choose from {list(MEASUREMENTS)}")
    facts = {"config": cfg, "machine": machine, "measurements": names}
    workdir = Path(tempfile.mkdtemp(prefix="beras-bench-compare-out-"))
    samples: Dict[str, Dict[str, List[dict]]] = {n: {"before": [], "after": []} for n in names}
    loads = [os.getloadavg()[0]]
    try:
        with worktree(before_rev) as before_root:
            sides = {"before": Side("before", before_root, describe(before_rev)),
                     "after": Side("after", REPO, working_tree_label())}
            runners: Dict[str, Callable[[Side], dict]] = {
                "grade": lambda s: run_grade(s, False, cfg["pytest_args"], workdir),
                "grade-in-process": lambda s: run_grade(s, True, cfg["pytest_args"], workdir),
                "small-call": lambda s: run_small_call(s, cfg["calls"], cfg["cycles"]),
            }
            for rep in range(cfg["reps"]):
                order = ("before", "after") if rep % 2 == 0 else ("after", "before")
                for name in names:
                    for which in order:
                        log(f"repetition {rep + 1}/{cfg['reps']}: {name}, {which}")
                        samples[name][which].append(runners[name](sides[which]))
                loads.append(os.getloadavg()[0])
            facts["revisions"] = {k: v.revision for k, v in sides.items()}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    facts["loads"] = loads
    facts["samples"] = samples
    return facts


# ---------------------------------------------------------------- figures and the table

def stats(values: List[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def summary(fig: dict) -> List[dict]:
    """One row per (measurement, figure) measured: before, after, after/before."""
    rows = []
    for name, key, label, unit in ROWS:
        per_side = fig["samples"].get(name)
        if not per_side:
            continue
        before = stats([s[key] for s in per_side["before"]])
        after = stats([s[key] for s in per_side["after"]])
        ratio = after["median"] / before["median"] if before["median"] else float("inf")
        # The two sides of one repetition ran back to back, so their ratio cancels load that
        # drifts over minutes: on a shared machine it is the steadier figure.
        paired = stats([a[key] / b[key] for a, b in zip(per_side["after"], per_side["before"]) if b[key]])
        rows.append({"measurement": name, "key": key, "label": label, "unit": unit,
                     "before": before, "after": after, "ratio": ratio, "paired": paired})
    return rows


def isolation_ratio(fig: dict, which: str = "after", key: str = "wall") -> Optional[float]:
    """Isolated / in-process of one side's medians (`key`: wall or cpu)."""
    s = fig["samples"]
    if not s.get("grade") or not s.get("grade-in-process"):
        return None
    iso = statistics.median(x[key] for x in s["grade"][which])
    inp = statistics.median(x[key] for x in s["grade-in-process"][which])
    return iso / inp if inp else None


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.2f} s"
    if unit in ("MB", "µs"):
        return f"{value:.0f} {unit}"
    return f"{value:.2f} {unit}" if value < 10 else f"{value:.1f} {unit}"


def _cell(st: dict, unit: str) -> str:
    if st["n"] == 1:
        return _fmt(st["median"], unit)
    spread = (st["max"] - st["min"]) / st["median"] if st["median"] else 0.0
    return f"{_fmt(st['median'], unit)} ({_fmt(st['min'], unit)}-{_fmt(st['max'], unit)}, ±{spread / 2:.0%})"


def markdown(fig: dict) -> str:
    m, cfg, rev = fig["machine"], fig["config"], fig["revisions"]
    lines = [
        f"Generated by `python3 dev.py run bench/run.py --compare {rev['before'].split()[0]}"
        f"{' --quick' if cfg['name'] == 'quick' else ''} --reps {cfg['reps']}` on {m['date']}: "
        f"{m['cores']} cores ({m['cpu'] or 'unknown CPU'}), Python {m['python']}, "
        f"{'as root (workers run as the sandbox user)' if m['root'] else 'not root'}, "
        f"load average {min(fig['loads']):.1f}-{max(fig['loads']):.1f} during the run.",
        "",
        f"- **before**: `{rev['before']}`",
        f"- **after**: `{rev['after']}`",
        "",
        f"{cfg['reps']} repetitions, each running every measurement for both revisions back to back "
        f"in alternating order (ABBA...), so the machine's noise falls on both alike. "
        f"Cells: median (min-max, ± half the range relative to the median); "
        f"after / before: of the medians, and per repetition (median and range of the "
        f"{cfg['reps']} paired ratios: steadier when the load drifts).",
        "",
        "| measure | before | after | after / before | per repetition |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in summary(fig):
        label = row["label"]
        label = ("&nbsp;&nbsp;" + label.strip()) if label.startswith("  ") else label
        p = row["paired"]
        paired = f"{p['median']:.2f}x ({p['min']:.2f}-{p['max']:.2f}x)" if p["n"] > 1 else f"{p['median']:.2f}x"
        lines.append(f"| {label} | {_cell(row['before'], row['unit'])} | {_cell(row['after'], row['unit'])} "
                     f"| {row['ratio']:.2f}x | {paired} |")
    scores = []
    for name in ("grade", "grade-in-process"):
        for which in ("before", "after"):
            runs = fig["samples"].get(name, {}).get(which, [])
            if runs:
                got = sorted({(r["score"], r["max_score"], r["tests"]) for r in runs})
                scores.append(f"{which} {name}: " + ", ".join(f"{s:g}/{t:g} in {n} tests" for s, t, n in got))
    if scores:
        lines += ["", "Scores: " + "; ".join(scores) + "."]
    ratios = {w: isolation_ratio(fig, w) for w in ("before", "after")}
    if ratios["after"] is not None:
        ok = "yes" if ratios["after"] <= ISOLATION_TARGET else "**no**"
        cpu = {w: isolation_ratio(fig, w, "cpu") for w in ("before", "after")}
        lines += ["", f"**Isolated / in-process** (full grade, median walls): after {ratios['after']:.2f}x, "
                      f"before {ratios['before']:.2f}x; target <= {ISOLATION_TARGET:g}x: {ok}. "
                      f"In CPU time: after {cpu['after']:.2f}x, before {cpu['before']:.2f}x."]
    return "\n".join(lines) + "\n"


START, END = "<!-- bench-compare:start -->", "<!-- bench-compare:end -->"


def replace_block(readme: str, table: str, anchor: str = "<!-- bench:start -->") -> str:
    """README.md with the comparison between its own markers replaced by `table`; the first
    time, the block goes just before the bench's main block (inside Performance)."""
    block = f"{START}\n{table.rstrip()}\n{END}"
    if START in readme and END in readme and readme.index(START) < readme.index(END):
        before, rest = readme.split(START, 1)
        return before + block + rest.split(END, 1)[1]
    if anchor in readme:
        before, after = readme.split(anchor, 1)
        return before + block + "\n\n" + anchor + after
    return readme.rstrip() + "\n\n## Performance\n\n" + block + "\n"
