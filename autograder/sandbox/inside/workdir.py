"""A worker's working directory: its own writable copy of the submission.

Student code may write where it runs (`np.save("predictions.npy", ...)` in `evaluate`, as
the handout suggests) and read its own files by relative paths. So each worker starts in a
fresh copy of the submission, made by the worker itself (as the sandbox user, before its
Landlock rules) inside its own folder, which is deleted after it: nothing written there
reaches a later worker. Imports still come from the sandbox's read-only submission copy
(`sys.path`), never from this one, and no trusted process reads anything in it.

Files larger than LINK_ABOVE are symbolic links to the read-only copy instead (reading
them is the same; a new file of that name replaces the link, writing into it is refused),
so a submission that carries a data set costs no copy per worker. Symbolic links are
copied as links. Runs in the sandbox: standard library only, the same in the full and the
portable sandbox.
"""
import os

LINK_ABOVE = 1 << 20
FOLDER_NAME = "submission"  # work/<n>/submission: the worker's current directory


def make_private_copy(source, target):
    """Copy the folder `source` to the new folder `target` (made 0700)."""
    os.mkdir(target, 0o700)
    _copy_into(source, target)


def _copy_into(source, target):
    with os.scandir(source) as entries:
        for entry in entries:
            if entry.name in ("__pycache__", ".git"):
                continue
            dest = os.path.join(target, entry.name)
            if entry.is_symlink():
                _link(os.readlink(entry.path), dest)
            elif entry.is_dir(follow_symlinks=False):
                os.mkdir(dest, 0o700)
                _copy_into(entry.path, dest)
            elif entry.is_file(follow_symlinks=False):
                info = entry.stat(follow_symlinks=False)
                if info.st_size > LINK_ABOVE and _link(entry.path, dest):
                    continue
                mode = 0o700 if info.st_mode & 0o100 else 0o600
                with open(entry.path, "rb") as src, \
                        open(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as dst:
                    while True:
                        chunk = src.read(1 << 20)
                        if not chunk:
                            break
                        dst.write(chunk)
            # anything else (a device, a fifo) is not copied


def _link(points_to, dest):
    """A symbolic link; False where links need a privilege (Windows without developer mode)."""
    try:
        os.symlink(points_to, dest)
        return True
    except (OSError, NotImplementedError):
        return False
