"""CPU time of a worker and of everything its code started, read by the trusted side from
the kernel: nothing the student's code patches (time.thread_time, time.perf_counter,
os.times, ...) can change it, and load from other processes does not stretch it.

Which processes count (a Scope):

- `everything_of(pid)`, for a worker that ran student code. With a sandbox user (the grader
  is root; each grading has a user of its own, layers/sandbox_user.py): EVERY process of that user, and
  every process in the worker's PID namespace where it has one (the second check: a process
  cannot leave its PID namespace). A helper made by a double fork and `setsid`, re-parented
  and in a session of its own, is still the user's and still in the namespace. Without a
  user switch (portable mode, or a grader that is not root): only the worker, its session
  and process group, and their descendants (the rest of the user's processes are not the
  worker's), so a double-forked `setsid` helper is NOT counted there; nor is anything
  when the worker is this very process (in-process benchmarks: the calling thread only).
- `own_tree(pid)`, for a worker that runs only our code (a baseline): the worker, its
  session and process group and their descendants, never the rest of its user, whose other
  processes may be a student's, running meanwhile under the same user.

What is read, per process: its CPU-time clock (clock_gettime of the process's CPUCLOCK_SCHED,
nanoseconds, threads that ended included; a zombie still has it), plus the CPU time of the
children it reaped (cutime + cstime of /proc/<pid>/stat, in clock ticks: the kernel keeps
no finer figure of reaped children for another process). A child reaped between two
readings counts whole, at tick precision, in its reaper's figure: the reaper of an orphan
is the sandbox's zygote (init of the PID namespace, or a subreaper), itself the user's. The
processes are found from /proc at each reading.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

TICK_S = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01  # (no /proc there anyway)

# Fields of /proc/<pid>/stat after the ")" that ends the command name (which may hold
# spaces and parentheses): 0 state, 1 ppid, 2 pgrp, 3 session, 11 utime, 12 stime,
# 13 cutime, 14 cstime.
_PPID, _PGRP, _SESSION, _UTIME, _STIME, _CUTIME, _CSTIME = 1, 2, 3, 11, 12, 13, 14
_CPUCLOCK_SCHED = 2


@dataclass(frozen=True)
class Scope:
    """The processes whose CPU time counts as the worker's."""
    pid: int
    uid: int | None = None     # a sandbox user's uid: every process of that user counts
    pid_ns: str | None = None  # the worker's own PID namespace: every process in it counts

    def describe(self) -> str:
        parts = [f"the worker (pid {self.pid}), its session and process group, their descendants "
                 f"and the children they reaped"]
        if self.uid is not None:
            parts.append(f"every process of its user (uid {self.uid})")
        if self.pid_ns is not None:
            parts.append(f"every process of its PID namespace ({self.pid_ns})")
        return "; ".join(parts)


def everything_of(pid: int) -> Scope:
    """Every process the worker's code may have started (see the module's docstring)."""
    uid = _uid_of(pid)
    ns = _pid_ns(pid)
    return Scope(pid, uid if uid is not None and uid != os.getuid() else None,
                 ns if ns is not None and ns != _pid_ns(os.getpid()) else None)


def own_tree(pid: int) -> Scope:
    """The worker's own processes only (a worker that never ran student code)."""
    return Scope(pid)


@dataclass
class Reading:
    clocks_ns: dict = field(default_factory=dict)  # pid -> ns on a CPU (its threads, ended ones included)
    reaped_ticks: dict = field(default_factory=dict)  # pid -> cutime + cstime (reaped children)


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
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


def _uid_of(pid: int) -> int | None:
    """The real uid of `pid` (/proc/<pid> itself is root's when the process is not dumpable)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _uids_of(pid: int) -> set[int]:
    """Real, effective, saved and filesystem uids of `pid`: a process of the user by any of them counts."""
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"Uid:"):
                    return {int(u) for u in line.split()[1:]}
    except (OSError, ValueError):
        pass
    return set()


def _pid_ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def processes_of(pid: int, stats: dict[int, list[str]] | None = None) -> list[int]:
    """The worker and every live process in its session or process group, or below it by
    parent links (the tree a worker's own code makes without leaving it)."""
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


def members(scope: Scope, stats: dict[int, list[str]] | None = None) -> list[int]:
    """The live (or zombie) processes of `scope` right now."""
    stats = _all_stats() if stats is None else stats
    found = set(processes_of(scope.pid, stats))
    me = os.getpid()
    for p in stats:
        if p in found or p == me:
            continue
        if scope.uid is not None and scope.uid in _uids_of(p):
            found.add(p)
        elif scope.pid_ns is not None and _pid_ns(p) == scope.pid_ns:
            found.add(p)
    return sorted(found)


def _clock_ns(pid: int, fields: list[str]) -> int | None:
    """The process's CPU clock; None when it is gone. Where the kernel refuses the clock,
    its utime + stime in ticks."""
    try:
        return time.clock_gettime_ns(((~pid) << 3) | _CPUCLOCK_SCHED)
    except OSError as exc:
        if exc.errno != 1:  # EINVAL: reaped since the listing
            return None
    return round((int(fields[_UTIME]) + int(fields[_STIME])) * TICK_S * 1e9)


def _thread_ns(pid: int, tid: int) -> int:
    try:
        with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def read(scope: Scope | int) -> Reading:
    """CPU time so far of every process of `scope` (a Scope, or a worker's pid: everything_of).

    For this very process (in-process workers, benchmarks only) it is the calling thread's
    CPU time alone: the rest of the process is the grader, whose own work (this reading
    included) must not count as the student's."""
    scope = everything_of(scope) if isinstance(scope, int) else scope
    if scope.pid == os.getpid():
        tid = threading.get_native_id()
        return Reading(clocks_ns={scope.pid: _thread_ns(scope.pid, tid)})
    stats = _all_stats()
    reading = Reading()
    for p in members(scope, stats):
        ns = _clock_ns(p, stats[p])
        if ns is None:
            continue
        reading.clocks_ns[p] = ns
        reading.reaped_ticks[p] = int(stats[p][_CUTIME]) + int(stats[p][_CSTIME])
    return reading


def seconds_between(before: Reading, after: Reading) -> float:
    """CPU seconds used between two readings of the same scope: what each process ran (all
    of it for a process born in between), and what the children it reaped in between ran."""
    ran = sum(ns - before.clocks_ns.get(p, 0) for p, ns in after.clocks_ns.items()) / 1e9
    reaped = sum(ticks - before.reaped_ticks.get(p, 0) for p, ticks in after.reaped_ticks.items()) * TICK_S
    return max(ran + reaped, 0.0)


def cpu_seconds(scope: Scope | int, run: Callable[[], Any]) -> float:
    """CPU seconds of `scope` (a Scope, or a worker's pid: everything_of) while `run()` (a
    remote call into the worker) ran."""
    scope = everything_of(scope) if isinstance(scope, int) else scope
    before = read(scope)
    run()
    return seconds_between(before, read(scope))
