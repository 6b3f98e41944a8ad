# Issue 18, finding 1: at import, look for what an earlier worker (or a submission graded at
# the same time) left in System V IPC, then leave a shared-memory segment, a message queue
# and a semaphore set (mode 0666) for the next one. Every worker imports this, hidden tests'
# workers first; none may find anything, and nothing may outlive the grading.
import ctypes
import errno

from calc.good import *  # noqa: F401,F403
from calc.good import Counter, SPEED, add, mean, scale  # noqa: F401

KEY = 0x0BE7A518  # the same in every worker and in every submission graded with this case
IPC_CREAT, IPC_NOWAIT, MODE = 0o1000, 0o4000, 0o666
_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmat.restype = ctypes.c_void_p


class _Message(ctypes.Structure):
    _fields_ = [("mtype", ctypes.c_long), ("mtext", ctypes.c_char * 64)]


def _err():
    return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))


_found, _made = [], []
ctypes.set_errno(0)
_shm = _libc.shmget(KEY, 0, 0)
if _shm >= 0:
    _addr = _libc.shmat(_shm, None, 0)
    _found.append("shm: " + (ctypes.string_at(_addr, 32).split(b"\0")[0].decode() if _addr not in (None, 2**64 - 1) else "?"))
_msq = _libc.msgget(KEY, 0)
if _msq >= 0:
    _m = _Message()
    got = _libc.msgrcv(_msq, ctypes.byref(_m), 64, 0, IPC_NOWAIT)
    _found.append("msg: " + (_m.mtext.decode() if got >= 0 else "(empty)"))
if _libc.semget(KEY, 0, 0) >= 0:
    _found.append("sem")

_shm = _libc.shmget(KEY, 4096, IPC_CREAT | MODE)
if _shm >= 0:
    _addr = _libc.shmat(_shm, None, 0)
    if _addr not in (None, 2**64 - 1):
        ctypes.memmove(_addr, b"hidden test data\0", 17)
    _made.append("shm")
else:
    _made.append("shm refused (" + _err() + ")")
_msq = _libc.msgget(KEY, IPC_CREAT | MODE)
if _msq >= 0:
    _m = _Message(1, b"hidden test data")
    _libc.msgsnd(_msq, ctypes.byref(_m), 64, IPC_NOWAIT)
    _made.append("msg")
else:
    _made.append("msg refused (" + _err() + ")")
_made.append("sem" if _libc.semget(KEY, 1, IPC_CREAT | MODE) >= 0 else "sem refused (" + _err() + ")")
_libc.mq_open.restype = ctypes.c_int
_made.append("mq" if _libc.mq_open(b"/beras-hostile-ipc", 0o100 | 0o2, MODE, None) >= 0 else "mq refused (" + _err() + ")")
print(("IPC FOUND " + "; ".join(_found)) if _found else "no IPC left by earlier workers", "| IPC:", ", ".join(_made))
