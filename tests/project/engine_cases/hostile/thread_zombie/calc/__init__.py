# Finding 2 of issue 10: a process whose main thread ends by a raw exit syscall shows state Z
# but keeps running its other threads; a sweep that skips zombies leaves it alive.
import ctypes
import os
import platform
import threading
import time

from calc.good import Counter, SPEED, mean, scale  # noqa: F401
from calc.good import add as _add

SYS_EXIT = {"x86_64": 60, "aarch64": 93}.get(platform.machine(), 60)


def _linger():
    while True:
        time.sleep(0.05)


def add(a, b):
    if os.fork() == 0:
        os.setsid()
        threading.Thread(target=_linger).start()
        ctypes.CDLL(None).syscall(SYS_EXIT, 0)  # only the calling (main) thread ends
    time.sleep(0.1)
    return _add(a, b)
