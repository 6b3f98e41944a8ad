"""Exclusive locks that processes of one machine hold on named files while they run: a batch
slot's user (batch.py), a grading's CPU (sandbox/grader/cpu_share.py). The kernel drops a
lock when its holder exits, however it ends, so a killed run never leaves one taken."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


LOCK_DIR_ENV = "AUTOGRADER_LOCK_DIR"  # another folder: the tests' own, so no other run interferes


def lock_dir() -> Path:
    if os.environ.get(LOCK_DIR_ENV):
        return Path(os.environ[LOCK_DIR_ENV])
    for candidate in (Path("/run/lock"), Path(tempfile.gettempdir())):
        if candidate.is_dir() and os.access(candidate, os.W_OK):
            return candidate
    return Path(tempfile.gettempdir())


def try_lock(name: str) -> int | None:
    """A descriptor holding an exclusive lock on lock_dir()/name, or None when another process
    holds it or the file cannot be opened (another user's). Closing the descriptor releases it."""
    import fcntl  # POSIX only, like every caller

    # No following a link: the folder may be world-writable (/run/lock is 1777 on Debian).
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(lock_dir() / name, flags, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd
