"""The sandbox's private folder: a fresh copy of the submission and of our worker code.

Below a fresh directory in the temporary folder (root-owned and 0755 when a sandbox user
runs the workers, so that user can rename or plant nothing at its top):
    runtime/_agsandbox   our worker code, read-only: the zygote or the workers run it
    submission/          the student's files, read-only for the sandbox user (shared by all
                         workers, so no test can leave anything there for a later one):
                         what workers import
    work/                the workers' writable folders, work/<n>/{home,tmp,submission}: one
                         per worker, deleted after it; `submission` is the worker's own
                         writable copy of the submission, its current directory (inside/workdir.py)
"""
import os
import shutil
import stat
import tempfile
from pathlib import Path

from ... import tempfolders
from .errors import SandboxError

RUNTIME_PACKAGE = "_agsandbox"
# What runs as the sandbox user, as paths below autograder/sandbox/: copied with the same
# layout below runtime/_agsandbox, so their relative imports (of each other only) still hold.
RUNTIME_FILES = ("protocol.py", "processes.py", "ipc.py", "inside",
                 "layers/rlimits.py", "layers/seccomp.py", "layers/landlock.py", "layers/non_dumpable.py")
HERE = Path(__file__).resolve().parents[1]  # autograder/sandbox


def make_sandbox_dir(submission_root, user=None):
    """The folder described above; `user` (a passwd entry, when root) owns only work/."""
    base = Path(tempfile.gettempdir())
    if user is not None and not (traversable_by_others(base) and safe_for_root(base)):
        # e.g. TMPDIR under root's private home, or in a folder others may rename things in
        base = Path("/tmp")
        if not (traversable_by_others(base) and safe_for_root(base)):
            raise SandboxError(f"grader error: no temporary directory the sandbox user can reach "
                               f"and cannot rename things in ({base})")
    top = tempfolders.make("beras-sandbox-", base)  # 0700, and removed by our parent if we are killed
    sub = top / "submission"
    # symlinks stay links (never followed), so a link to a root-only file stays unreadable
    shutil.copytree(submission_root, sub, symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".git"))
    runtime = top / "runtime" / RUNTIME_PACKAGE
    runtime.mkdir(parents=True)
    copy_runtime(runtime)
    (top / "work").mkdir()
    for path in [top / "runtime", *(top / "runtime").rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    if user is not None:
        # Root's, so nothing below can be renamed or planted by the user; reachable by this
        # sandbox user's own group only, never by another grading's user (parallel regrades).
        os.chown(top, 0, user.pw_gid)
        top.chmod(0o750)
        for path in [sub, *sub.rglob("*")]:
            if not path.is_symlink():  # read-only for the sandbox user
                path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)
        os.chown(top / "work", user.pw_uid, user.pw_gid)
        (top / "work").chmod(stat.S_IRWXU)
    return top


def copy_runtime(runtime):
    """RUNTIME_FILES into `runtime`, each package with an `__init__.py` (empty unless it
    has its own: the grader-side packages' are never copied)."""
    for name in RUNTIME_FILES:
        source, target = HERE / name, runtime / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for folder in [runtime, *(p for p in runtime.rglob("*") if p.is_dir())]:
        if not (folder / "__init__.py").exists():
            (folder / "__init__.py").write_text("")


def within(path, root):
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
        return True
    except ValueError:
        return False


def safe_for_root(path):
    """Whether no one but root can rename or replace anything on the way to `path`: every
    folder from `/` down is root's, and writable by nobody else unless sticky (as /tmp is:
    there others may add entries, but not rename or delete root's). Root works below it."""
    path = Path(path).resolve()
    for folder in [path, *path.parents]:
        info = folder.stat()
        if info.st_uid != 0 or (info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX):
            return False
    return True


def traversable_by_others(path):
    path = Path(path).resolve()
    return all(p.stat().st_mode & 0o001 for p in [path, *path.parents])
