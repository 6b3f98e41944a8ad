"""Layer: the non-dumpable zygote. The zygote clears its dumpable flag before any worker
exists, and each worker sets its own again (so its own /proc stays readable to itself).

Stops: a worker, which runs as the same user, reading or writing the zygote's memory or
descriptors through /proc/PID/mem, /proc/PID/fd and the like (ptrace access rules), where
seccomp cannot see the opens; so a taken-over worker cannot take over the zygote that forks
the next ones.

Full mode: yes (and the PID namespace hides the zygote's siblings besides).
Docker mode: yes.
Portable mode: no zygote: each worker is a fresh process, so nothing to protect.

Runs inside the sandbox (stdlib, ctypes).
"""
from ..processes import prctl

_PR_SET_DUMPABLE = 4


def set_dumpable(flag):
    """A process that is not dumpable cannot be reached through /proc/PID/mem and the like
    by other processes of its user (ptrace rules); seccomp alone does not stop that."""
    return prctl(_PR_SET_DUMPABLE, 1 if flag else 0)
