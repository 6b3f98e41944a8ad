"""One CPU for a grading: its trusted side, its zygote and every worker share it.

A grading is a conversation of some 9,000 requests in which the trusted side and a worker
take turns: one computes while the other waits for it. On a virtual machine with idle CPUs,
each turn wakes the other process on another CPU, and waking an idle virtual CPU costs more
than the request itself. On the 2-core machines this project is tested on, a small round
trip cost the trusted side 265 µs of CPU with the kernel placing the two processes, and
90-100 µs with both on one CPU (README, "Performance"). Since the two never compute at once,
sharing one CPU costs them no parallelism.

Gradings side by side (regrade --jobs, validate, two shards, two terminals) must not crowd
onto one CPU while another idles: each claims its CPU with an exclusive lock on a per-CPU
file (lockfiles.py), held while its Sandbox is open. When every CPU is claimed, or this
process may run on one CPU only, nothing is pinned and the kernel places the processes.

Pinning is not isolation: a worker may widen its own affinity, which costs only its speed.
"""
import os

from ... import lockfiles

# The CPUs a process had before a Sandbox pinned it, for the processes it starts meanwhile
# (a test's grading, a regrade started from a test): they inherit the pinning, and would
# otherwise take their one CPU for all the machine has.
BEFORE_PINNING_ENV = "AUTOGRADER_CPUS_BEFORE_PINNING"


class CpuShare:
    """A claimed CPU (or none): the zygote is started on it (`preexec`), the trusted thread
    moves to it (`pin_this_thread`) and leaves it when the Sandbox closes (`release`).
    With no CPU claimed, both run on every CPU this process had before any pinning."""

    def __init__(self, cpu=None, lock_fd=None, allowed=None):
        self.cpu, self._lock_fd, self.allowed = cpu, lock_fd, allowed
        self._before = None    # the trusted thread's affinity before pin_this_thread
        self._set_env = False  # this share set BEFORE_PINNING_ENV (and unsets it)

    @classmethod
    def claim(cls):
        """The first free CPU, starting from the one this thread runs on (where the kernel
        found room for it); none when all are claimed or affinity is not available."""
        if not hasattr(os, "sched_setaffinity"):
            return cls()
        allowed = _cpus_before_pinning()
        if len(allowed) < 2:
            return cls(allowed=allowed)
        here = _current_cpu()
        start = allowed.index(here) if here in allowed else 0
        for cpu in allowed[start:] + allowed[:start]:
            fd = lockfiles.try_lock(f"autograder-cpu-{cpu}.lock")
            if fd is None:
                continue
            if _can_run_on({cpu}):
                return cls(cpu, fd, allowed)
            os.close(fd)
        return cls(allowed=allowed if _can_run_on(set(allowed)) else None)

    def _target(self):
        if self.cpu is not None:
            return {self.cpu}
        return set(self.allowed) if self.allowed else None

    def preexec(self):
        """In a child between fork and exec (the zygote)."""
        target = self._target()
        if target is not None:
            _move_to(target)

    def pin_this_thread(self):
        target = self._target()
        if target is None or self._before is not None:
            return
        current = os.sched_getaffinity(0)
        if target == current or not _move_to(target):
            return
        self._before = current
        if BEFORE_PINNING_ENV not in os.environ:
            os.environ[BEFORE_PINNING_ENV] = ",".join(map(str, sorted(current)))
            self._set_env = True

    def release(self):
        """The trusted thread runs where it ran before, and the CPU is free for another
        grading (the kernel also frees it if this process dies)."""
        if self._before is not None:
            before, self._before = self._before, None
            _move_to(before)
        if self._set_env:
            os.environ.pop(BEFORE_PINNING_ENV, None)
            self._set_env = False
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            os.close(fd)
        self.cpu = None


def _move_to(cpus):
    """Move this thread (or, between fork and exec, this child) to `cpus`; False when the
    system refuses (a container's cpuset, a seccomp profile): where a grading runs never
    stops it."""
    try:
        os.sched_setaffinity(0, cpus)
        return True
    except OSError:
        return False


def _can_run_on(cpus):
    """Whether this thread may be moved to `cpus`: tried, then undone."""
    current = os.sched_getaffinity(0)
    return _move_to(cpus) and _move_to(current)


def _cpus_before_pinning():
    """This thread's CPUs, or those it had before a Sandbox (of this process or a parent)
    pinned it to one of them."""
    current = sorted(os.sched_getaffinity(0))
    try:
        before = sorted({int(n) for n in os.environ.get(BEFORE_PINNING_ENV, "").split(",") if n})
    except ValueError:
        return current
    if len(current) == 1 and current[0] in before:
        return before
    return current


def _current_cpu():
    """The CPU this thread last ran on (field 39 of its stat), or None."""
    try:
        with open("/proc/thread-self/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return int(fields[36])
    except (OSError, IndexError, ValueError):
        return None
