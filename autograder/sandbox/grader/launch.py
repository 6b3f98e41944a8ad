"""What a full sandbox's zygote is started with (zygote.py): its environment, its
configuration, and what its workers may read under Landlock."""
import contextlib
import os
import sys
from pathlib import Path

from .. import processes
from .folder import within

HASH_SEED = "0"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
# What workers may read under Landlock, besides the interpreter, this runtime and the submission.
SYSTEM_READABLE = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc",
                   "/proc", "/sys", "/dev")
ENGINE_ROOT = Path(__file__).resolve().parents[2]  # the course checkout (or Gradescope's source/)
_MB = 1024 * 1024


def box_python(box):
    return box.config.python or sys.executable


def course_paths(box):
    """The course checkout, hidden from workers (a mount over it) unless something
    workers need lives inside it."""
    need = [box._dir, Path(box_python(box)), Path(sys.prefix), Path(sys.base_prefix)]
    course = ENGINE_ROOT
    if course == Path("/") or any(within(p, course) or within(course, p) for p in need):
        return []
    return [course]


def readable(box):
    """What Landlock lets workers read (the submission is added by the worker)."""
    import numpy
    paths = list(SYSTEM_READABLE)
    extra = [sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(box_python(box)),
             str(Path(numpy.__file__).resolve().parents[1])]
    with contextlib.suppress(Exception):
        import pyseccomp
        extra.append(str(Path(pyseccomp.__file__).resolve().parent))
    for p in extra:
        real = os.path.realpath(p)
        if not within(ENGINE_ROOT, Path(real)):  # never an ancestor of the course
            paths.append(real)
    paths.append(str(box._dir / "runtime"))
    return sorted(set(paths))


def worker_env(box):
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "HOME": str(box._dir / "work"), "TMPDIR": str(box._dir / "work"),
           "MPLBACKEND": "Agg", "AUTOGRADER_SANDBOX_TOKEN": box._token, "PYTHONHASHSEED": HASH_SEED,
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.update({v: "1" for v in THREAD_VARS})
    env.update(box.config.env)
    return env


def zygote_config(box):
    c = box.config
    return {
        "root": str(box._dir / "submission"),
        "work": str(box._dir / "work"),
        "forbidden": list(c.forbidden), "stand_ins": list(c.stand_ins),
        "limits": {"cpu_s": c.cpu_s, "memory_mb": c.memory_mb,
                   "file_size_mb": c.file_size_mb, "max_processes": nproc_limit(box)},
        "max_payload": c.max_value_mb * _MB,
        "keep_partial_imports": c.keep_partial_imports,
        "network": c.network,
        "pidns": bool(box._plan is not None and box._plan.pid),
        "sandbox_user": box.user is not None,
        "landlock": True,
        "readable": readable(box),
    }


def nproc_limit(box):
    # RLIMIT_NPROC counts every process of the real uid. As the sandbox user that is the
    # sandbox; as an ordinary user it includes their whole desktop, so add what runs now.
    n = box.config.max_processes
    if box.user is None:
        uid = os.getuid()
        n += sum(1 for p in processes.processes().values() if p.uid == uid)
    return n
