"""Finding and killing processes, and the prctl switches every side uses (stdlib only:
shared by both sides, so it is also copied into the sandbox).

Processes are found through /proc, so this is Linux-only, like Gradescope. It still
imports everywhere (a student's `check` on Windows reaches it): without /proc no process
is found. The rlimits are a layer of their own (layers/rlimits.py).
"""
import ctypes
import os
import signal
import time

_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_CHILD_SUBREAPER = 36


def prctl(option, value):
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def become_subreaper():
    """Orphaned descendants (e.g. setsid daemons) are re-parented to us, not to init,
    so that we can still find and kill them."""
    return prctl(_PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent():
    return prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def no_new_privileges():
    return prctl(_PR_SET_NO_NEW_PRIVS, 1)


# ---------------------------------------------------------------- /proc

class Proc:
    """A process as /proc/PID/stat shows it. The uid is read from status on first use (the
    owner of /proc/PID is root for non-dumpable processes, so it would lie)."""
    __slots__ = ("pid", "ppid", "pgid", "sid", "state", "_uid")

    def __init__(self, pid, ppid, pgid, sid, state):
        self.pid, self.ppid, self.pgid, self.sid, self.state = pid, ppid, pgid, sid, state
        self._uid = None

    @property
    def uid(self):
        if self._uid is None:
            self._uid = -1
            try:
                with open(f"/proc/{self.pid}/status", "rb") as f:
                    for line in f:
                        if line.startswith(b"Uid:"):
                            self._uid = int(line.split()[1])
                            break
            except OSError:
                pass
        return self._uid


def read_proc(pid):
    """One process from /proc, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return Proc(pid, int(fields[1]), int(fields[2]), int(fields[3]), fields[0])


def _proc_entries():
    """The names in /proc, or none where there is no /proc (macOS, Windows)."""
    try:
        return os.listdir("/proc")
    except OSError:
        return []


def processes():
    out = {}
    for name in _proc_entries():
        if name.isdigit():
            p = read_proc(int(name))
            if p is not None:
                out[p.pid] = p
    return out


def children_of(pid):
    """Direct children of `pid` (cheap: one file per thread), or None if the kernel lacks
    /proc/PID/task/TID/children."""
    found = set()
    try:
        tids = os.listdir(f"/proc/{pid}/task")
        for tid in tids:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found.update(int(x) for x in f.read().split())
    except OSError:
        return None
    return found


def descendants(root, procs):
    """Pids below `root` in the parent tree (not root itself)."""
    children = {}
    for p in procs.values():
        children.setdefault(p.ppid, []).append(p.pid)
    found, stack = [], list(children.get(root, ()))
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def running(proc):
    """Whether anything of the process still runs. A zombie thread-group leader (state Z)
    still runs when other threads of it do (its main thread ended by a raw exit syscall):
    count its tasks, not its state."""
    if proc.state != "Z":
        return True
    try:
        return len(os.listdir(f"/proc/{proc.pid}/task")) > 1
    except OSError:
        return False


def kill_until_gone(select, rounds=200):
    """Repeatedly SIGKILL the pids that select(procs) returns and that still run, until
    none is left: a fork bomb keeps forking while we kill, but the process limit bounds it.
    Returns how many kills were sent."""
    sent = 0
    for i in range(rounds):
        procs = processes()
        victims = [pid for pid in select(procs) if pid != os.getpid() and running(procs[pid])]
        if not victims:
            return sent
        for pid in victims:
            sent += _kill(pid)
        time.sleep(0.001 if i < 10 else 0.01)
    return sent


def kill_tree(root, spare=()):
    """Kill everything below `root`, except the subtrees of the pids in `spare`."""
    def select(procs):
        spared = set(spare)
        for s in spare:
            spared.update(descendants(s, procs))
        return [pid for pid in descendants(root, procs) if pid not in spared]
    return kill_until_gone(select)


def kill_user(uid, spare_roots=()):
    """Kill every process of `uid`, except those below one of `spare_roots` (other live
    sandboxes sharing the user), so that concurrent graders don't kill each other's workers."""
    def select(procs):
        spared = set()
        for s in spare_roots:
            spared.update(descendants(s, procs))
        return [p.pid for p in procs.values() if p.uid == uid and p.pid not in spared]
    return kill_until_gone(select)


def tasks_of_user(uid):
    """Pids of the processes of `uid` that still run (threads counted, see running())."""
    return [p.pid for p in processes().values() if p.uid == uid and running(p)]


def pids_with_env(token):
    """Pids (readable by us) whose initial environment holds `token` (e.g. "VAR=value")."""
    needle = token.encode()
    out = []
    for name in _proc_entries():
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    out.append(int(name))
        except OSError:
            pass
    return out
