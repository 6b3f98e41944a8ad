"""Where the time of one grading run went: disjoint phases that add up to the total, in wall
time and in CPU time (the machine may be shared, and Gradescope's 0.5 vCPU makes CPU the cost).

Input: the document bench/timing_plugin.py wrote, the wall-clock start and end of the whole
`run_autograder` process (epoch seconds, taken by the bench), and the CPU time of its tree.

Within a test, time splits like this (sandbox figures come from autograder.timing):
    worker start-ups   Sandbox() creation, forking a worker, its greeting, stopping it
                       (CPU: also the worker's own set-up, outside requests)
    student code       what the worker measured inside student code
    round trips        remote operations minus student code: encoding, sockets, decoding,
                       (wall) waiting for the other process to be scheduled
    Hypothesis         a @given test's call minus the time inside its examples
    trusted checks     test code itself: reference computations, comparisons, feedback
    bookkeeping        the rest of the test's protocol (pytest, plugin, fixtures)
    writing results    progress results.json after each test
The training test is reported as one phase, with the same split inside it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List

WORKER_KEYS = ("sandbox.create", "sandbox.spawn", "sandbox.greeting", "sandbox.finish")

# (key, label) in table order; the keys of Breakdown.wall / Breakdown.cpu
PHASES = (
    ("startup", "start-up: interpreter, imports, test collection"),
    ("workers", "worker start-ups and shut-downs"),
    ("student", "student code (outside training)"),
    ("roundtrips", "serialisation and round trips"),
    ("hypothesis", "Hypothesis generation and shrinking"),
    ("trusted", "reference computations and checks (trusted side)"),
    ("training", "training test (end to end, all included)"),
    ("write", "writing results.json (after each test and at the end)"),
    ("bookkeeping", "pytest and plugin bookkeeping"),
    ("end", "clean-up, exit, run_autograder's own check"),
    ("other", "zygote, shell and other processes (CPU only)"),
)


@dataclass
class Split:
    """One test (or several) split into parts; every field in seconds."""
    workers: float = 0.0
    student: float = 0.0
    roundtrips: float = 0.0
    hypothesis: float = 0.0
    trusted: float = 0.0
    bookkeeping: float = 0.0
    write: float = 0.0
    total: float = 0.0

    def add(self, other: "Split") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def split_wall(test: dict) -> Split:
    out = Split(total=test["total"], write=test.get("writes", 0.0))
    phase_walls = 0.0
    for when, p in test["phases"].items():
        workers = sum(p[k] for k in WORKER_KEYS)
        # a worker's greeting arrives during its first request: count it once, as start-up
        roundtrips = max(p["sandbox.request"] - p["sandbox.student"] - p["sandbox.greeting"], 0.0)
        out.workers += workers
        out.student += p["sandbox.student"]
        out.roundtrips += roundtrips
        phase_walls += p["wall"]
        rest = max(p["wall"] - workers - roundtrips - p["sandbox.student"], 0.0)
        _split_rest(out, test, when, rest, p["wall"], test["examples"])
    out.bookkeeping += max(test["total"] - phase_walls - out.write, 0.0)
    return out


def split_cpu(test: dict, in_process: bool) -> Split:
    """CPU: this process's clock, plus the worker's own figures when it is another process."""
    out = Split(write=test.get("writes_cpu", 0.0))
    phase_cpu = worker_requests = worker_process = 0.0
    for when, p in test["phases"].items():
        workers = sum(p[k + ".cpu"] for k in WORKER_KEYS)
        student = p["sandbox.student.cpu"]
        if in_process:  # the worker's CPU is this process's: inside the request's figure
            roundtrips = max(p["sandbox.request.cpu"] - student, 0.0)
        else:
            roundtrips = p["sandbox.request.cpu"] + max(p["sandbox.worker.cpu"] - student, 0.0)
            worker_requests += p["sandbox.worker.cpu"]
            worker_process += p["sandbox.worker_process.cpu"]
        out.workers += workers
        out.student += student
        out.roundtrips += roundtrips
        phase_cpu += p["cpu"]
        rest = max(p["cpu"] - workers - p["sandbox.request.cpu"], 0.0)
        _split_rest(out, test, when, rest, p["cpu"], test.get("examples_cpu", 0.0))
    out.bookkeeping += max(test.get("total_cpu", 0.0) - phase_cpu - out.write, 0.0)
    # the worker's life outside requests: its set-up after the fork, its exit
    out.workers += max(worker_process - worker_requests, 0.0)
    out.total = (out.workers + out.student + out.roundtrips + out.hypothesis + out.trusted
                 + out.bookkeeping + out.write)
    return out


def _split_rest(out: Split, test: dict, when: str, rest: float, phase: float, examples: float) -> None:
    """The test's own time in a phase (no sandbox): Hypothesis, trusted checks or bookkeeping."""
    if when == "call":
        hypothesis = min(max(phase - examples, 0.0), rest) if test.get("given") else 0.0
        out.hypothesis += hypothesis
        out.trusted += rest - hypothesis
    else:
        out.bookkeeping += rest


@dataclass
class Breakdown:
    total: float                       # wall seconds, run_autograder start to exit
    cpu_total: float                   # CPU seconds of the whole tree
    wall: Dict[str, float]             # phase -> wall seconds (sums to total)
    cpu: Dict[str, float]              # phase -> CPU seconds (sums to cpu_total)
    training: Dict[str, float]         # the training test's split (wall)
    training_cpu: Dict[str, float]
    floor: float                       # all student code (wall), training included
    floor_cpu: float
    tests: int
    round_trips: int
    examples: int
    slowest: List[dict] = field(default_factory=list)  # the costliest tests (CPU), see costliest()


def costliest(tests: List[dict], in_process: bool, count: int = 8) -> List[dict]:
    """The tests that cost the most CPU (grader and worker), with what drives the cost."""
    rows = []
    for t in tests:
        c = split_cpu(t, in_process)
        rows.append({"nodeid": t["nodeid"], "wall": t["total"], "cpu": c.total, "student_cpu": c.student,
                     "hypothesis_cpu": c.hypothesis, "roundtrips_cpu": c.roundtrips,
                     "requests": t.get("requests", 0), "examples": t.get("examples_n", 0)})
    return sorted(rows, key=lambda r: r["cpu"], reverse=True)[:count]


def breakdown(doc: dict, started: float, ended: float, cpu_total: float, in_process: bool) -> Breakdown:
    total = ended - started
    general, training = Split(), Split()
    general_cpu, training_cpu = Split(), Split()
    for test in doc["tests"]:
        (training if test["training"] else general).add(split_wall(test))
        (training_cpu if test["training"] else general_cpu).add(split_cpu(test, in_process))
    sandbox = doc.get("sandbox", {})

    def s(name: str) -> float:
        return sandbox.get(name, {}).get("s", 0.0)

    first = doc.get("first_test") or ended
    last = doc.get("last_test") or first
    gaps = max((last - first) - general.total - training.total, 0.0)  # pytest's loop between tests
    writes_outside = max(doc["write_results"]["s"] - general.write - training.write, 0.0)
    wall = {
        "startup": max(first - started, 0.0),
        "workers": general.workers + s("sandbox.close"),
        "student": general.student,
        "roundtrips": general.roundtrips,
        "hypothesis": general.hypothesis,
        "trusted": general.trusted,
        "training": training.total - training.write,
        "write": doc["write_results"]["s"],
        "bookkeeping": general.bookkeeping + gaps,
        "end": max((ended - last) - s("sandbox.close") - writes_outside, 0.0),
        "other": 0.0,
    }
    wall["bookkeeping"] += total - sum(wall.values())  # clock skews below a millisecond

    cpu_first = doc.get("cpu_first_test") or 0.0
    cpu_last = doc.get("cpu_last_test") or cpu_first
    cpu_end = doc.get("cpu_end") or cpu_last
    cpu_gaps = max((cpu_last - cpu_first) - sum(t.get("total_cpu", 0.0) for t in doc["tests"]), 0.0)
    writes_outside_cpu = max(doc["write_results"].get("cpu", 0.0) - general_cpu.write - training_cpu.write, 0.0)
    cpu = {
        "startup": cpu_first,
        "workers": general_cpu.workers + s("sandbox.close.cpu"),
        "student": general_cpu.student,
        "roundtrips": general_cpu.roundtrips,
        "hypothesis": general_cpu.hypothesis,
        "trusted": general_cpu.trusted,
        "training": training_cpu.total - training_cpu.write,
        "write": doc["write_results"].get("cpu", 0.0),
        "bookkeeping": general_cpu.bookkeeping + cpu_gaps,
        "end": max(cpu_end - cpu_last - s("sandbox.close.cpu") - writes_outside_cpu, 0.0),
    }
    cpu["other"] = max(cpu_total - sum(cpu.values()), 0.0)  # zygote, bash, the results check

    return Breakdown(
        total=total, cpu_total=cpu_total, wall=wall, cpu=cpu,
        training=asdict(training), training_cpu=asdict(training_cpu),
        floor=general.student + training.student,
        floor_cpu=general_cpu.student + training_cpu.student,
        tests=len(doc["tests"]),
        round_trips=int(sandbox.get("sandbox.request", {}).get("n", 0)),
        examples=sum(t.get("examples_n", 0) for t in doc["tests"]),
        slowest=costliest(doc["tests"], in_process),
    )
