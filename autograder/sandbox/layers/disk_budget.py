"""Layer: the disk budget. The workers' writable folders (work/: each worker's copy of the
submission, its HOME and TMPDIR) together may hold at most `scratch_mb`, and never so much
that the disk has less than RESERVE_MB left, so results.json can always be written.

Stops: filling the disk (many files, each under the per-file rlimit), or running the disk
so low that the trusted side cannot write its results.

Full mode: work/ is a tmpfs of `scratch_mb` in the workers' mount namespace (namespaces.py):
           the kernel refuses the write that would go over (ENOSPC), and this watch is off.
Docker mode: no mount namespace, so no capped tmpfs, and RLIMIT_FSIZE caps each file only:
           the trusted side measures work/ (from outside, never following a link) before a
           request is sent and every CHECK_S while it runs, and ends the worker that went
           over with a clear message (WorkerCrashed: "wrote more than N MB").
Portable mode: the same watch, over the portable sandbox's work/.

What a worker writes elsewhere (where Landlock is missing) is swept after it (sweeping.py),
not counted. Between two checks a worker may write up to CHECK_S of disk bandwidth more:
RESERVE_MB is the margin for that and for results.json.
"""
import os
import time

CHECK_S = 0.25          # how often a running request's folders are measured
RESERVE_MB = 64         # free space always left on the disk of the workers' folders
MIN_BUDGET_MB = 16      # a nearly full disk still lets a worker copy a submission
MAX_ENTRIES = 100_000   # files and folders: each costs an inode even when empty
_MB = 1024 * 1024


class Watch:
    """The budget of one sandbox's work/ folder. `over()` says why it was exceeded, or None;
    it measures at most once per CHECK_S unless forced."""

    def __init__(self, folder, limit_mb):
        self.folder = str(folder)
        self.limit_mb = int(limit_mb)
        try:
            st = os.statvfs(self.folder)
            free_mb = st.f_bavail * st.f_frsize // _MB
        except OSError:
            free_mb = None
        if free_mb is not None and free_mb - RESERVE_MB < self.limit_mb:
            self.limit_mb = max(free_mb - RESERVE_MB, MIN_BUDGET_MB)
            self.why = f"the disk had only {free_mb} MB free"
        else:
            self.why = "the limit for all the files a test's code writes"
        self._last = float("-inf")

    def over(self, force=False):
        now = time.monotonic()
        if not force and now - self._last < CHECK_S:
            return None
        self._last = now
        used, entries = usage(self.folder, stop_after=MAX_ENTRIES)
        if entries > MAX_ENTRIES:
            return f"created more than {MAX_ENTRIES} files and folders"
        if used > self.limit_mb * _MB:
            return f"wrote more than {self.limit_mb} MB of files ({self.why})"
        return None


def usage(folder, stop_after=MAX_ENTRIES):
    """Bytes allocated below `folder` and the number of entries (counting stops after
    `stop_after`). Walked by descriptors without following any link (os.fwalk), so a folder
    swapped for a symlink mid-walk leads nowhere; a hard-linked file counts once."""
    total, entries, seen = 0, 0, set()
    try:
        walk = os.fwalk(folder, follow_symlinks=False)
        for _, dirs, files, dir_fd in walk:
            for name in dirs + files:
                entries += 1
                if entries > stop_after:
                    walk.close()
                    return total, entries
                try:
                    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                except OSError:
                    continue  # gone meanwhile
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    total += max(st.st_blocks * 512, 0)
    except OSError:
        pass
    return total, entries
