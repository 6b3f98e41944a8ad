"""Peak memory of a whole process tree (grader + zygote + workers), sampled from /proc.

No cgroup is needed: a thread lists the tree below a root pid every few milliseconds and sums
the resident set sizes. RSS counts a page once per process that maps it, so pages the workers
share with their zygote (numpy, forked copy-on-write) are counted several times: the sum is an
upper bound of what a container's memory limit charges. PSS (each shared page split among its
users) is what the limit actually sees; it is read too, less often (it costs a page walk).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Dict, Optional

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024


def parents() -> Dict[int, int]:
    """pid -> parent pid, for every process now alive."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ")".
        fields = stat[stat.rfind(b")") + 2:].split()
        out[int(name)] = int(fields[1])
    return out


def tree(root: int, ppid: Dict[int, int]) -> list:
    children: Dict[int, list] = {}
    for pid, parent in ppid.items():
        children.setdefault(parent, []).append(pid)
    out, todo = [], [root] if root in ppid else []
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def pss_bytes(pid: int) -> int:
    return _proc_field_bytes(f"/proc/{pid}/smaps_rollup", b"Pss:")


def high_water_mark(pid: int) -> int:
    """The process's own peak resident set (VmHWM): the kernel's, so no sample can miss it."""
    return _proc_field_bytes(f"/proc/{pid}/status", b"VmHWM:")


def _proc_field_bytes(path: str, field: bytes) -> int:
    """A `field: N kB` line of a /proc file, in bytes; 0 when the process or the line is gone."""
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def role(pid: int) -> str:
    """grader, zygote or worker (workers are forks of the zygote and share its command line)."""
    cmd = _cmdline(pid)
    if b"zygote_main" in cmd:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
            parent = int(stat[stat.rfind(b")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            return "worker"
        return "worker" if b"zygote_main" in _cmdline(parent) else "zygote"
    return "grader" if b"python" in cmd else "other"


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


@dataclass
class Peak:
    rss: int = 0                 # largest sum of RSS over the tree seen in one sample
    pss: int = 0                 # largest sum of PSS seen in one sample
    processes: int = 0           # processes in the tree at the RSS peak
    by_role: Dict[str, int] = field(default_factory=dict)  # RSS per role at the RSS peak
    max_by_role: Dict[str, int] = field(default_factory=dict)  # largest RSS of a role, any sample
    grader_hwm: int = 0          # the largest VmHWM of a grader process: the trusted side's own peak
    samples: int = 0


class TreeMemory:
    """Samples the tree below `root` until stopped: `with TreeMemory(pid) as m: ...; m.peak`."""

    def __init__(self, root: int, interval_s: float = 0.02, pss_every: int = 5):
        self.root, self.interval_s, self.pss_every = root, interval_s, pss_every
        self.peak = Peak()
        self._roles: Dict[int, str] = {}
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def sample(self) -> None:
        pids = tree(self.root, parents())
        sizes = {pid: rss_bytes(pid) for pid in pids}
        total = sum(sizes.values())
        peak = self.peak
        peak.samples += 1
        by_role: Dict[str, int] = {}
        for pid, size in sizes.items():
            r = self._roles.get(pid) or role(pid)
            if r == "worker":  # the others may still exec into something else (fork, then exec)
                self._roles[pid] = r
            by_role[r] = by_role.get(r, 0) + size
            if r == "grader":
                peak.grader_hwm = max(peak.grader_hwm, high_water_mark(pid))
        for r, size in by_role.items():
            peak.max_by_role[r] = max(peak.max_by_role.get(r, 0), size)
        new_high = total > peak.rss
        if new_high:
            peak.rss, peak.processes, peak.by_role = total, len(pids), by_role
        if new_high or peak.samples % self.pss_every == 0:
            peak.pss = max(peak.pss, sum(pss_bytes(pid) for pid in pids))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "TreeMemory":
        self._thread = threading.Thread(target=self._run, name="tree-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
