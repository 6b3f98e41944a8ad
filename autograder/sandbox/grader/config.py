"""SandboxConfig: limits and policy for running student code.

A course sets them in autograder.cfg's [sandbox] section, which autograder/course.py (the one
parser of that file) reads into this class; code and tests may also build one directly.
"""
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, Optional, Tuple


@dataclass(frozen=True)
class SandboxConfig:
    forbidden: Tuple[str, ...] = ("tensorflow", "keras", "torch", "jax", "sklearn")
    stand_ins: Tuple[str, ...] = ("tqdm", "matplotlib")
    call_timeout_s: float = 20.0     # wall clock, per remote call
    cpu_s: int = 120                 # CPU seconds, per worker (RLIMIT_CPU)
    memory_mb: int = 1536            # address space, per worker process (RLIMIT_AS)
    file_size_mb: int = 64           # largest file the worker may write (RLIMIT_FSIZE)
    max_processes: int = 64          # processes of the sandbox user (RLIMIT_NPROC)
    scratch_mb: int = 1024           # all the workers' writable files together (a tmpfs, when root)
    output_kb: int = 64              # captured stdout+stderr kept per worker; the rest is counted
    max_value_mb: int = 256          # largest message either way (arrays included)
    start_timeout_s: float = 60.0    # zygote start (imports numpy)
    network: bool = False            # when root, workers get no network unless this is true
    namespaces: bool = True          # when root, PID/mount/net namespaces where the host allows;
                                     # false: Docker mode, Gradescope's layers only (also
                                     # AUTOGRADER_NAMESPACES=off; namespaces.py)
    user: Optional[str] = None       # when root; default $AUTOGRADER_SANDBOX_USER or beras-sandbox
    python: Optional[str] = None     # interpreter for the worker; default sys.executable
    env: Dict[str, str] = field(default_factory=dict)  # extra environment for the worker
    # A submission module that raises at import is kept as far as it ran, its other names
    # re-raising the error (partial_import.py). Courses turn it on with autograder.cfg's
    # [autograder] set_aside_import_errors (on by default); off, an import error raises.
    keep_partial_imports: bool = False
    share_cpu: bool = True           # the grader and its workers on one CPU that no other
                                     # grading claims (cpu_share.py; Linux only)
    in_process: bool = False         # BENCHMARK ONLY: same API, student code in this process

    def __post_init__(self):
        # A worker that may use more than the container holds meets the container's OOM
        # killer (which may pick the grader) instead of our limit and its clear message.
        object.__setattr__(self, "memory_mb", fitted_memory_mb(self.memory_mb))

    def with_(self, **changes):
        return replace(self, **changes)


GRADER_SHARE_MB = 512  # the trusted pytest process, the zygote and the data the grader holds
MIN_WORKER_MB = 256    # a worker with numpy imported maps about 150 MB


def fitted_memory_mb(configured, container_mb=None):
    """The worker's address-space limit: the configured one, lowered (never raised) to the
    container's memory limit minus the grader's share when that is smaller."""
    limit = container_memory_mb() if container_mb is None else container_mb
    if not limit:
        return configured
    return min(configured, max(MIN_WORKER_MB, limit - GRADER_SHARE_MB))


def container_memory_mb(cgroup_root="/sys/fs/cgroup", proc_cgroup="/proc/self/cgroup"):
    """The memory limit of our cgroup (v2 memory.max, v1 memory.limit_in_bytes) in MB, the
    smallest of our group and the root's; None when unlimited or unknown (no cgroups: macOS,
    Windows, or a container that hides them)."""
    paths = []
    try:
        with open(proc_cgroup) as handle:
            for line in handle:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if controllers == "":
                    paths.append(os.path.join(cgroup_root, path.lstrip("/"), "memory.max"))
                elif "memory" in controllers.split(","):
                    paths.append(os.path.join(cgroup_root, "memory", path.lstrip("/"), "memory.limit_in_bytes"))
    except (OSError, ValueError):
        pass
    paths += [os.path.join(cgroup_root, "memory.max"), os.path.join(cgroup_root, "memory", "memory.limit_in_bytes")]
    limits = []
    for path in paths:
        try:
            with open(path) as handle:
                raw = handle.read().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < 1 << 60:  # v1 writes a huge number for "no limit"; v2 "max"
            limits.append(int(raw) // (1024 * 1024))
    return min(limits) if limits else None


def checked_setup(submission_root, config):
    """(the submission folder, the config), or SandboxError: what every sandbox checks first
    (the full one, sandbox.py, and the portable one, portable.py)."""
    from .errors import SandboxError
    from ..inside.stubs import STAND_INS
    root = Path(submission_root).resolve()
    if not root.is_dir():
        raise SandboxError(f"submission directory {root} does not exist")
    config = config or SandboxConfig()
    unknown = [n for n in config.stand_ins if n not in STAND_INS]
    if unknown:
        raise SandboxError(f"grader error: no stand-in exists for {', '.join(unknown)} "
                           f"(known: {', '.join(STAND_INS)})")
    return root, config
