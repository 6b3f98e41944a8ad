"""System V IPC objects of a user: found in /proc/sysvipc, removed with the ctl calls.

Shared-memory segments, message queues and semaphore sets belong to a uid and an IPC
namespace, not to a process: one left by a worker outlives it, and a later worker (or a
grading running at the same time as the same user) could read it. seccomp refuses them to
workers (layers/seccomp.py) and, where namespaces are allowed, workers have an IPC namespace of
their own; this is the sweep behind both. The trusted side removes what a sandbox user
owns after each worker and when a Sandbox closes (layers/sweeping.py); a zygote without seccomp
clears its own namespace after each worker (zygote_process.py).

/proc/sysvipc lists the reader's IPC namespace. Standard library only: a copy of this
file runs in the sandbox too.
"""
import ctypes

KINDS = ("shm", "msg", "sem")
_ID_COLUMN = {"shm": "shmid", "msg": "msqid", "sem": "semid"}
IPC_RMID = 0


def objects_of(uid):
    """[(kind, id)] of every object that `uid` owns or created, in this IPC namespace."""
    found = []
    for kind in KINDS:
        try:
            with open(f"/proc/sysvipc/{kind}") as table:
                header, *rows = [line.split() for line in table]
        except (OSError, ValueError):
            continue  # no System V IPC in this kernel
        for row in rows:
            fields = dict(zip(header, row))
            try:
                if uid in (int(fields["uid"]), int(fields["cuid"])):
                    found.append((kind, int(fields[_ID_COLUMN[kind]])))
            except (KeyError, ValueError):
                continue
    return found


def remove(kind, ident):
    """IPC_RMID: a segment goes once the last process detaches (none: they are killed
    first), a queue or a semaphore set at once. False when it was already gone."""
    libc = ctypes.CDLL(None, use_errno=True)
    if kind == "shm":
        return libc.shmctl(ident, IPC_RMID, None) == 0
    if kind == "msg":
        return libc.msgctl(ident, IPC_RMID, None) == 0
    return libc.semctl(ident, 0, IPC_RMID) == 0


def remove_all_of(uid):
    """Remove every object of `uid` (owner or creator); returns how many were there."""
    found = objects_of(uid)
    for kind, ident in found:
        remove(kind, ident)
    return len(found)
