"""Misbehaving student code for the sandbox's own tests (each function is one attack)."""
import builtins
import os
import sys
import time

import numpy as np


def exit_now(code=3):
    sys.exit(code)


def os_exit(code=4):
    os._exit(code)


def spin():
    while True:
        pass


def sleep(seconds):
    time.sleep(seconds)
    return "woke"


def flood(megabytes):
    line = "x" * 1023
    for _ in range(megabytes * 1024):
        print(line)
    return "flooded"


def memory_bomb():
    hoard = []
    while True:
        hoard.append(np.ones(10_000_000))


def fork_bomb():
    while True:
        os.fork()


def daemon(pidfile=None):
    """Double fork + setsid: a daemon that outlives the call, as far as it can tell."""
    pidfile = pidfile or os.path.join(os.environ["HOME"], "daemon.pid")
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            with open(pidfile, "w") as f:
                f.write(str(os.getpid()))
            while True:
                time.sleep(0.05)
        os._exit(0)
    for _ in range(200):
        if os.path.exists(pidfile) and open(pidfile).read():
            return int(open(pidfile).read())
        time.sleep(0.01)
    raise RuntimeError("daemon did not start")


class AlwaysEqual:
    def __eq__(self, other):
        return True


class SneakyArray(np.ndarray):
    def __eq__(self, other):
        return True


def always_equal():
    return AlwaysEqual()


def sneaky_array():
    return np.arange(3.0).view(SneakyArray)


def specials():
    return np.array([np.nan, np.inf, -np.inf]), float("nan"), float("-inf")


def big_array(megabytes):
    return np.zeros(megabytes * 1024 * 1024, dtype=np.uint8)


def object_array():
    return np.array([1, "a", None], dtype=object)


def monkeypatch():
    np.array_equal = lambda *a, **k: True
    np.allclose = lambda *a, **k: True
    builtins.abs = lambda x: 0
    builtins.round = lambda x, n=None: 0
    return "patched"


def read_file(path):
    with open(path) as f:
        return f.read()


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def whoami():
    return os.getuid(), os.getgid(), os.getcwd(), dict(os.environ)


def break_len():
    builtins.len = lambda x: 0  # the worker's own framing uses len()
    return "broken"


def phone_home(host, port):
    import socket
    with socket.create_connection((host, port), timeout=2):
        return "connected"
