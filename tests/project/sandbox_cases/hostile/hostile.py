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


def kernel_probe():
    """What the kernel lets this process do: "ok" or the errno's name, per attempt."""
    import ctypes
    import errno
    import platform
    import socket
    libc = ctypes.CDLL(None, use_errno=True)

    def call(fn, *args):
        ctypes.set_errno(0)
        return "ok" if fn(*args) >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))

    out = {
        "unshare user namespace": call(libc.unshare, 0x10000000),
        "unshare network namespace": call(libc.unshare, 0x40000000),
        "setns": call(libc.setns, 0, 0),
        "ptrace-seize the parent": call(libc.ptrace, 0x4206, os.getppid(), None, None),
        "mount": call(libc.mount, b"none", os.environ["TMPDIR"].encode(), b"tmpfs", 0, None),
    }
    if platform.machine() == "x86_64":
        for name, nr in (("bpf", 321), ("perf_event_open", 298), ("keyctl", 250), ("userfaultfd", 323),
                         ("process_vm_readv", 310), ("io_uring_setup", 425)):
            out[name] = call(libc.syscall, nr, 0, 0, 0, 0, 0)
    try:
        with open("/proc/self/stat") as f:  # the parent's pid as /proc numbers it (no PID namespace there)
            zygote = int(f.read().rsplit(")", 1)[1].split()[1])
        with open(f"/proc/{zygote}/mem", "rb") as f:  # the zygote's memory
            f.read(1)
        out["read the zygote's memory"] = "ok"
    except OSError as exc:
        out["read the zygote's memory"] = errno.errorcode.get(exc.errno, str(exc.errno))
    for name, family, kind in (("inet socket", socket.AF_INET, socket.SOCK_DGRAM),
                               ("inet6 socket", socket.AF_INET6, socket.SOCK_DGRAM),
                               ("netlink socket", socket.AF_NETLINK, socket.SOCK_DGRAM),
                               ("unix socket", socket.AF_UNIX, socket.SOCK_STREAM)):
        try:
            socket.socket(family, kind).close()
            out[name] = "ok"
        except OSError as exc:
            out[name] = errno.errorcode.get(exc.errno, str(exc.errno))
    return out


def thread_zombie():
    """A child whose main thread ends by a raw exit syscall while another thread runs on:
    it shows state Z, and is not dead. Returns its pid."""
    import ctypes
    import platform
    import threading
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        threading.Thread(target=lambda: [time.sleep(0.05) for _ in iter(int, 1)]).start()
        os.write(w, b"x")
        ctypes.CDLL(None).syscall({"x86_64": 60, "aarch64": 93}.get(platform.machine(), 60), 0)
    os.read(r, 1)
    time.sleep(0.1)
    return pid


class Yes:
    def __eq__(self, other):
        return True

    def __bool__(self):
        return True

    __hash__ = object.__hash__


def patch_encoder():
    """Make the worker's encoder send a live handle where plain data is expected."""
    import gc
    import _agsandbox.protocol as protocol
    original = protocol.Encoder.encode

    def encode(self, value, path="value", depth=0):
        if isinstance(value, Yes):
            for obj in gc.get_objects():
                if type(obj).__name__ == "Dispatcher":
                    return {"r": [obj.handle_for(value), "int"]}
        return original(self, value, path, depth)
    protocol.Encoder.encode = encode
    return Yes()


def fill_home(total_mb):
    """Write 1 MB files into HOME until `total_mb` or an error; returns how many got written."""
    block = b"x" * (1 << 20)
    for i in range(total_mb):
        try:
            with open(os.path.join(os.environ["HOME"], f"fill{i}"), "wb") as f:
                f.write(block)
        except OSError as exc:
            return i, os.strerror(exc.errno)
    return total_mb, None


def ipc_probe(key=0x0BE7A5):
    """System V and POSIX IPC, as a student would reach it through ctypes (mode 0666): what
    each call gives ("ok" or the errno's name). Objects it managed to create are left alive."""
    import ctypes
    import errno
    libc = ctypes.CDLL(None, use_errno=True)

    def call(fn, *args):
        ctypes.set_errno(0)
        result = fn(*args)
        return ("ok", result) if result != -1 else (errno.errorcode.get(ctypes.get_errno(), "?"), result)

    IPC_CREAT = 0o1000
    out = {}
    out["shmget"], shmid = call(libc.shmget, key, 1 << 20, IPC_CREAT | 0o666)
    libc.shmat.restype = ctypes.c_void_p
    ctypes.set_errno(0)
    addr = libc.shmat(shmid if shmid >= 0 else 0, None, 0)
    out["shmat"] = "ok" if addr not in (None, ctypes.c_void_p(-1).value) else errno.errorcode.get(ctypes.get_errno(), "?")
    out["msgget"], _ = call(libc.msgget, key, IPC_CREAT | 0o666)
    out["semget"], _ = call(libc.semget, key, 1, IPC_CREAT | 0o666)
    out["shmctl"], _ = call(libc.shmctl, 0, 2, None)  # IPC_STAT of id 0
    libc.mq_open.restype = ctypes.c_int
    out["mq_open"], _ = call(libc.mq_open, b"/beras-hostile", os.O_CREAT | os.O_RDWR, 0o666, None)
    return out


def named_socket_probe():
    """Naming an AF_UNIX socket (abstract or in HOME), and reaching one by name: connect,
    sendto, and sendmsg, whose address no syscall filter can read."""
    import errno
    import socket

    def outcome(step):
        try:
            step()
            return "ok"
        except OSError as exc:
            return errno.errorcode.get(exc.errno, str(exc.errno))

    def on_a_new_socket(kind, step):
        def run():
            with socket.socket(socket.AF_UNIX, kind) as s:
                step(s)
        return outcome(run)

    name = "\0beras-hostile"
    out = {"abstract bind": on_a_new_socket(socket.SOCK_STREAM, lambda s: s.bind(name)),
           "path bind": on_a_new_socket(socket.SOCK_STREAM, lambda s: s.bind(os.path.join(os.environ["HOME"], "sock"))),
           "abstract connect": on_a_new_socket(socket.SOCK_STREAM, lambda s: s.connect(name)),
           "abstract sendto": on_a_new_socket(socket.SOCK_DGRAM, lambda s: s.sendto(b"x", name)),
           "abstract sendmsg": on_a_new_socket(socket.SOCK_DGRAM, lambda s: s.sendmsg([b"x"], [], 0, name)),
           "datagram socketpair": outcome(lambda: [s.close() for s in socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)])}
    a, b = socket.socketpair()
    out["stream sendmsg to a name"] = outcome(lambda: a.sendmsg([b"x"], [], 0, name))
    a.sendall(b"ping")
    out["socketpair"] = "ok" if b.recv(4) == b"ping" else "broken"
    a.close(), b.close()
    return out


def ipc_find(key=0x0BE7A5):
    """Which System V objects with this key exist where this worker looks."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    return [kind for kind, found in (("shm", libc.shmget(key, 0, 0)), ("msg", libc.msgget(key, 0)),
                                     ("sem", libc.semget(key, 0, 0))) if found >= 0]


def try_read(paths):
    """For each path: "ok" when it could be read (or listed, for a folder), else the errno's name."""
    import errno
    out = {}
    for path in paths:
        try:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                with open(path, "rb") as f:
                    f.read(1)
            out[path] = "ok"
        except OSError as exc:
            out[path] = errno.errorcode.get(exc.errno, str(exc.errno))
    return out


def ignore_fetch_budgets():
    """Make the worker drop every fetch's budget, so that it sends whatever it is asked for."""
    import _agsandbox.inside.worker_main as worker_main
    original = worker_main.Dispatcher._handle

    def handle(self, header, payload):
        return original(self, {k: v for k, v in header.items() if k != "max"}, payload)
    worker_main.Dispatcher._handle = handle
    return "patched"
