"""A worker's CPU time, read by the trusted side from /proc: nothing the student's code
patches (time.thread_time, time.perf_counter, os.times, ...) can change it.

What counts is every thread of every process the worker's code started: the worker, the
processes in its session or process group (a worker leads its own), their descendants, and
the children they already reaped (cutime/cstime). Two readings:

- precise: /proc/<pid>/task/<tid>/schedstat, nanoseconds on a CPU, per live thread;
- coarse: utime+stime+cutime+cstime of /proc/<pid>/stat, in clock ticks (10 ms). The
  kernel keeps these for the whole process, threads that ended included.

A measurement is the precise figure, unless the coarse one shows more work than it could
miss by rounding (threads or processes that ended between the two readings). CPU time,
not wall time: other processes on a loaded machine do not stretch it.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01  # (no /proc there anyway)

# Fields of /proc/<pid>/stat after the ")" that ends the command name (which may hold
# spaces and parentheses): 0 state, 1 ppid, 2 pgrp, 3 session, 11 utime, 12 stime,
# 13 cutime, 14 cstime.
_PPID, _PGRP, _SESSION, _UTIME, _STIME, _CUTIME, _CSTIME = 1, 2, 3, 11, 12, 13, 14


@dataclass
class Reading:
    threads_ns: dict = field(default_factory=dict)  # (pid, tid) -> ns on a CPU
    ticks: int = 0                                   # all processes, reaped children included
    processes: int = 0


def _stat(pid: int, tid: int | None = None) -> list[str] | None:
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("ascii", "replace")
    except OSError:  # gone between the listing and the read
        return None
    return text[text.rfind(")") + 2:].split()


def _all_stats() -> dict[int, list[str]]:
    stats = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(int(name))
            if fields is not None:
                stats[int(name)] = fields
    return stats


def processes_of(pid: int, stats: dict[int, list[str]] | None = None) -> list[int]:
    """The worker and every process its code started that is still alive: in its session
    or process group, or below it by parent links."""
    stats = _all_stats() if stats is None else stats
    if pid not in stats:
        return []
    found = {p for p, f in stats.items() if p == pid or int(f[_SESSION]) == pid or int(f[_PGRP]) == pid}
    grew = True
    while grew:  # descendants, including those that made a session of their own
        below = {p for p, f in stats.items() if int(f[_PPID]) in found} - found
        found |= below
        grew = bool(below)
    return sorted(found)


def _thread_ns(pid: int) -> dict[tuple[int, int], int]:
    times = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return times
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as handle:
                times[(pid, int(tid))] = int(handle.read().split()[0])
        except (OSError, ValueError, IndexError):
            fields = _stat(pid, int(tid))  # no schedstat in this kernel: ticks per thread
            if fields is not None:
                times[(pid, int(tid))] = round((int(fields[_UTIME]) + int(fields[_STIME])) * TICK_S * 1e9)
    return times


def read(pid: int) -> Reading:
    """CPU time so far of the worker `pid` and of every process its code started.

    For this very process (in-process workers, benchmarks only) it is the calling thread's
    CPU time alone: the rest of the process is the grader, whose own work (this reading
    included) must not count as the student's."""
    if pid == os.getpid():
        tid = threading.get_native_id()
        return Reading(threads_ns={(pid, tid): _thread_ns(pid).get((pid, tid), 0)})
    stats = _all_stats()
    reading = Reading()
    for p in processes_of(pid, stats):
        f = stats[p]
        reading.ticks += sum(int(f[i]) for i in (_UTIME, _STIME, _CUTIME, _CSTIME))
        reading.threads_ns.update(_thread_ns(p))
        reading.processes += 1
    return reading


def seconds_between(before: Reading, after: Reading) -> float:
    """CPU seconds used between two readings of the same worker."""
    precise = sum(ns - before.threads_ns.get(key, 0) for key, ns in after.threads_ns.items()) / 1e9
    coarse = (after.ticks - before.ticks) * TICK_S
    # Each process's ticks are truncated once per reading: below that, trust the precise sum.
    rounding = (max(before.processes, after.processes) + 1) * TICK_S
    return max(precise, coarse - rounding, 0.0)


def cpu_seconds(pid: int, run: Callable[[], Any]) -> float:
    """The worker's CPU seconds while `run()` (a remote call into it) ran."""
    before = read(pid)
    run()
    return seconds_between(before, read(pid))
