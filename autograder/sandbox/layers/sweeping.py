"""Layer: the sweeps. Nothing a worker started survives it, and nothing it left in the shared
temporary folders or in System V IPC stays: how a full Sandbox (grader/sandbox.py) sweeps
after each worker and when it closes.

Stops: a process outliving its test or the grading (setsid daemons, threads outliving their
main thread), files left in `/tmp`, `/var/tmp`, `/dev/shm`, `/run/lock`, `/dev/mqueue` for a
later test or a concurrent grading, System V IPC objects of the sandbox user (ipc.py).

Full mode: a second wall: the zygote is init of its PID namespace (killing it ends every
           process inside) and the IPC namespace dies with it; the sweep still checks from
           outside, by uid and by the sandbox's token in the environment.
Docker mode: the wall itself for what outlives a worker: the zygote (a subreaper) kills each
           worker's tree, the grader kills what escaped it by uid, removes what the user
           left in the shared folders and System V IPC, and at close sends `kill(-1)` as
           the user until /proc shows none of its processes.
Portable mode: grader/portable.py kills each worker's process group; as root on POSIX it
           also kills every process of the sandbox user and removes its IPC objects.
"""
import contextlib
import os
import shutil
import weakref

from .. import ipc, processes
from .sandbox_user import is_grading_user, kill_everything_of, release_sandbox_user, remove_grading_user

# Where any user may create files: whatever the sandbox user left there goes after each worker.
# (/dev/mqueue lists POSIX message queues where the host mounts it; seccomp refuses them anyway.)
SHARED_TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")
live_boxes = weakref.WeakSet()  # this process's open Sandboxes (they may share a user)


def sweep(box):
    """Kill leftovers outside any live zygote's tree: every process of the sandbox user
    when root (the live workers and zygotes of this process spared), else those
    carrying our token."""
    if box.user is not None:
        return sweep_user(box, box.user.pw_uid)
    if box._dir is not None:
        token = f"AUTOGRADER_SANDBOX_TOKEN={box._token}"
        spare = set()
        if box._zygote is not None:
            procs = processes.processes()
            for root in box._zygote.tree_roots():
                spare |= {root, *processes.descendants(root, procs)}
        return processes.kill_until_gone(
            lambda procs: [p for p in processes.pids_with_env(token) if p in procs and p not in spare])
    return 0


def after_worker(box, channel, status):
    """The worker is finished: nothing it started may run on, nothing it wrote outside
    its own folder (which the zygote deletes) may stay."""
    box._live.discard(channel)
    if box.user is None:
        if status.get("zygote_gone") or status.get("stuck"):
            sweep(box)  # without the zygote, its orphans are found by our token
        return
    # Reading /proc/sysvipc costs microseconds. (Objects in the zygote's own IPC namespace,
    # where there is one, are not listed here: they go with that namespace, or the zygote
    # clears them when seccomp is missing.)
    clean_ipc(box.user.pw_uid)
    if not strays_possible(box):
        return
    sweep_user(box, box.user.pw_uid)
    clean_shared_temp(box.user.pw_uid)


def strays_possible(box):
    """Cheap test first: in a PID namespace every process that outlived its worker is a
    child of the namespace's init (orphans land there), so the children of init that
    are not live workers are all there is to find."""
    z = box._zygote
    if z is None or z.init_pid is None or box._plan is None or not box._plan.pid:
        return True
    children = processes.children_of(z.init_pid)
    if children is None:
        return True
    if children - {c.pid for c in box._live}:
        return True
    # Under Landlock workers cannot write to the shared temp folders (close() checks anyway).
    return not any(layer.startswith("landlock") for layer in z.layers) and bool(owned_entries(box.user.pw_uid))


def sweep_user(box, uid):
    """Kill every running process of `uid` except the zygotes of this process's live
    Sandboxes and the trees of their live workers. Other Sandboxes' zygote trees are
    spared whole (their own workers' strays are theirs to kill)."""
    def select(procs):
        spared = set()
        for other in list(live_boxes):
            z = other._zygote
            if z is None or other.user is None or other.user.pw_uid != uid:
                continue
            roots = z.tree_roots()
            spared |= roots
            if other is not box:
                for root in roots:
                    spared.update(processes.descendants(root, procs))
            for ch in list(other._live):
                spared.add(ch.pid)
                spared.update(processes.descendants(ch.pid, procs))
        return [p.pid for p in procs.values() if p.uid == uid and p.pid not in spared]
    return processes.kill_until_gone(select)


def release_user(box, user):
    """The Sandbox is closing: every process of its user goes, unless other Sandboxes of this
    process still use the user (then only what is not theirs)."""
    last = release_sandbox_user(user.pw_name)
    if last:
        kill_everything_of(user.pw_uid, user.pw_gid)  # nothing of this user may outlive us
    else:
        sweep_user(box, user.pw_uid)  # other Sandboxes of this process still use it
    clean_shared_temp(user.pw_uid)
    clean_ipc(user.pw_uid)
    if last and is_grading_user(user.pw_name):
        remove_grading_user(user.pw_name)  # made for this grading: it goes with it


def clean_ipc(uid):
    """Remove the System V IPC objects `uid` owns or created (after its processes are
    killed, a segment goes at once). Only for a sandbox user, never for a person's uid."""
    if uid != 0:
        ipc.remove_all_of(uid)


def owned_entries(uid):
    found = []
    for top in SHARED_TEMP_DIRS:
        try:
            with os.scandir(top) as it:
                for entry in it:
                    with contextlib.suppress(OSError):
                        if entry.stat(follow_symlinks=False).st_uid == uid:
                            found.append(entry.path)
        except OSError:
            pass
    return found


def clean_shared_temp(uid):
    """Delete what `uid` created at the top of the shared temporary folders (files, links,
    folders with all below them; links are removed, never followed)."""
    for path in owned_entries(uid):
        with contextlib.suppress(OSError):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
