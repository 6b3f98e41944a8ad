"""NONDUMP DOCSTRING"""
from ..processes import prctl

_PR_SET_DUMPABLE = 4


def set_dumpable(flag):
    """A process that is not dumpable cannot be reached through /proc/PID/mem and the like
    by other processes of its user (ptrace rules); seccomp alone does not stop that."""
    return prctl(_PR_SET_DUMPABLE, 1 if flag else 0)
