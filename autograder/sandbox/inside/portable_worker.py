"""The portable sandbox's worker process (see portable.py for the trusted side).

Started by the grader as a fresh `python -s` (spawn semantics: no fork, no zygote), one per
test, from the copy of this package in the sandbox folder (`_agsandbox`). It speaks the
same protocol as a forked worker, over its stdin (requests) and stdout (replies), which
work on Windows too. Student output goes to stderr: the worker first moves the protocol to
private copies of descriptors 0 and 1, then points 1 at 2 and 0 at the null device, so a
`print` can never corrupt a frame.

Before each reply the worker writes a sync mark to stderr, after the student's output is
flushed: the trusted side, whose thread reads stderr, knows from it that it has all the
output of the request (no select() on pipes on Windows).

Limits, where the platform has them: CPU seconds and file size by `resource` on POSIX,
address space on Linux only (macOS does not enforce RLIMIT_AS). Nothing else here:
standard library and numpy only, relative imports only, never `autograder`.
"""
import io
import json
import os
import sys

from .. import processes, protocol
from ..layers import rlimits
from . import import_watch, stubs, workdir
from .worker_main import Dispatcher, serve


class Pipes:
    """The protocol's two pipes, with the socket methods protocol.send_frame/recv_frame use."""

    def __init__(self, read_fd, write_fd):
        if os.name == "nt":  # frames are bytes: no newline translation, ever
            import msvcrt
            for fd in (read_fd, write_fd):
                msvcrt.setmode(fd, os.O_BINARY)
        self.reader = io.FileIO(read_fd, "rb")
        self.writer = io.FileIO(write_fd, "wb")

    def recv_into(self, view, n):
        return self.reader.readinto(memoryview(view)[:n]) or 0

    def sendall(self, data):
        view = memoryview(data).cast("B")
        while len(view):
            view = view[self.writer.write(view):]


def take_over_stdio():
    """The protocol on private descriptors; the student's stdout and stderr on stderr."""
    pipes = Pipes(os.dup(0), os.dup(1))  # os.dup: not inherited by processes students start
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        stream = io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)
    return pipes


def apply_limits(lim):
    if os.name != "posix":
        return  # Windows: the trusted side's time limit only
    memory = lim.get("memory_mb") if sys.platform.startswith("linux") else None
    try:
        rlimits.apply_rlimits(lim.get("cpu_s"), memory, lim.get("file_size_mb"), None)
    except (ValueError, OSError):
        pass  # a limit this system refuses; the trusted side's time limit still holds
    if sys.platform.startswith("linux"):
        rlimits.first_for_the_oom_killer()
        processes.die_with_parent()


def main(cfg_json):
    cfg = json.loads(cfg_json)
    pipes = take_over_stdio()
    apply_limits(cfg.get("limits", {}))
    root, max_payload = cfg["root"], cfg["max_payload"]
    # Its own writable copy of the submission as its current directory, as a forked worker
    # has (workdir.py); imports still come from `root`.
    workdir.make_private_copy(root, cfg["cwd"])
    os.chdir(cfg["cwd"])
    sys.argv = [""]
    sys.path.insert(0, root)
    finder = stubs.install(cfg["forbidden"], cfg["stand_ins"])
    watch = import_watch.install(root, lambda *note: protocol.send_frame(pipes, {"imp": list(note)}),
                                 cfg.get("keep_partial_imports", False))
    sync = cfg["sync"].encode("ascii")

    def mark_output_done():
        try:
            os.write(2, sync)
        except OSError:
            pass  # the student closed stderr: the trusted side stops waiting after a moment

    protocol.send_frame(pipes, {"hello": os.getpid()})  # set up: from here on it is the student's
    serve(pipes, Dispatcher(root, max_payload, finder, watch), max_payload, before_reply=mark_output_done)
