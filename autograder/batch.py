"""What the TA tools (regrade, validate) share to grade many submissions at once: slots,
each with a sandbox user of its own, a pool that runs jobs on them, and natural order."""
from __future__ import annotations

import concurrent.futures
import os
import queue
import re
from typing import Callable, Iterable, TypeVar

from autograder import grading
from autograder.commands import Terminated
from autograder.lockfiles import try_lock
from autograder.sandbox.layers.sandbox_user import ensure_sandbox_user, kill_everything_of, sandbox_user_name

Item = TypeVar("Item")
Result = TypeVar("Result")


def natural_key(text: str) -> tuple:
    """submission_9 before submission_10: ids are compared number-aware, so a shard slice
    is the same on every machine and reads sensibly."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", text) if part != "")


class SlotUsers:
    """One unprivileged user per concurrent job slot when root: a submission that signals
    every process it may (kill(-1)) or fills its user's process quota then reaches only its
    own slot. The sandbox also sweeps its user's processes after each run, so two batches on
    one machine (two shards side by side) must never share a user either: each user is
    claimed with an exclusive lock held for the whole run, and a busy one is skipped.
    Not root: the engine runs workers as ourselves and no user is passed."""

    def __init__(self, jobs: int):
        self.names: list[str | None] = [None] * jobs
        self._locks: list[int] = []
        if os.geteuid() != 0:
            return
        base = sandbox_user_name()
        claimed: list[str] = []
        index = 0
        while len(claimed) < jobs:
            index += 1
            if index > 10000:
                raise RuntimeError("no free sandbox slot user: too many batch gradings are running")
            name = f"{base}-{index}"
            fd = try_lock(f"{name}.lock")
            if fd is None:
                continue
            self._locks.append(fd)
            claimed.append(name)
        for name in claimed:
            ensure_sandbox_user(name)
        self.names = list(claimed)

    def close(self) -> None:
        for fd in self._locks:
            os.close(fd)  # closing releases the lock
        self._locks = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def sweep_user(name: str | None) -> None:
    """Kill whatever a slot user left running before the slot takes its next job: kill(-1)
    as that user until /proc shows none of its tasks (threads counted)."""
    if name is None or os.geteuid() != 0:
        return
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return
    if entry.pw_uid != 0:
        kill_everything_of(entry.pw_uid, entry.pw_gid)


def run_on_slots(items: Iterable[Item], users: list[str | None],
                 work: Callable[[Item, str | None, int], Result],
                 on_done: Callable[[Result], None] | None = None, *,
                 on_interrupt: Callable[[], None] | None = None) -> list[Result]:
    """Run `work(item, user, slot)` for every item, one job per slot at a time, and sweep
    the slot's user after each job. Threads only wait: each grading is its own process.
    Results come back in completion order; `on_done` sees each as it finishes.

    Interrupted (Ctrl-C, or SIGTERM as `Terminated`), no new job starts, and the gradings in
    progress are stopped before this raises: their threads wait on processes in sessions
    of their own, which no Ctrl-C reaches, and the interpreter's exit would wait for them.
    With `on_interrupt`, a Ctrl-C lets them finish instead (it is called first, to say so);
    a second Ctrl-C, or a SIGTERM, stops them."""
    slots: queue.Queue = queue.Queue()
    for index, user in enumerate(users, start=1):
        slots.put((index, user))

    def one(item):
        slot, user = slots.get()
        try:
            return work(item, user, slot)
        finally:
            sweep_user(user)
            slots.put((slot, user))

    done: list[Result] = []
    futures: list[concurrent.futures.Future] = []
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(len(users), 1))
    # Waits are on the futures, never on the threads: a Thread.join() that an interrupt cuts
    # short marks its thread as ended (Python 3.11), and a second join returns at once.
    try:
        for item in items:
            futures.append(pool.submit(one, item))
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            done.append(result)
            if on_done is not None:
                on_done(result)
    except KeyboardInterrupt as stop:
        for future in futures:
            future.cancel()  # those not started yet
        if on_interrupt is not None and not isinstance(stop, Terminated):
            on_interrupt()
            try:
                concurrent.futures.wait(futures)
            except KeyboardInterrupt:
                grading.stop_running()
        else:
            grading.stop_running()
        raise
    finally:
        try:
            concurrent.futures.wait(futures)
        except KeyboardInterrupt:  # while waiting for the stopped ones: no grace this time
            grading.stop_running(grace_s=0.0)
            concurrent.futures.wait(futures)
            raise
        finally:
            grading.allow_running()
            pool.shutdown(wait=True)
    return done
