"""Layer: rlimits, set by each worker on itself before student code runs (hard and soft, so
it cannot raise them again).

Stops: endless loops (CPU), memory bombs (address space), huge files (each file at most
`file_size_mb`), fork bombs (processes of the user), core dumps. And, where the memory that
runs out is the container's (Gradescope's 768 MB, shared with the grader) rather than the
worker's own limit: the kernel's OOM killer takes the worker first (oom_score_adj 1000,
which an unprivileged process may raise but never lower again), not the grader that must
write results.json.

Full mode: all of them, per worker (inside/zygote_process.py).
Docker mode: the same. RLIMIT_FSIZE caps each file, not their total: without the mount
           namespace's capped tmpfs nothing bounds the total a worker writes.
Portable mode: CPU and file size on POSIX, address space and the OOM preference on Linux
           only, no process limit (inside/portable_worker.py); none on Windows.

Runs inside the sandbox (stdlib; `resource` is POSIX only, so imported where used).
"""


def apply_rlimits(cpu_s=None, memory_mb=None, file_size_mb=None, max_processes=None):
    """Hard and soft limits alike, so the process cannot raise them again. None = leave as is.
    The CPU soft limit sends SIGXCPU; the hard one, a second later, SIGKILL. POSIX only."""
    import resource
    mb = 1024 * 1024
    _set(resource.RLIMIT_CORE, 0)
    if cpu_s is not None:
        _set(resource.RLIMIT_CPU, int(cpu_s), int(cpu_s) + 1)
    if memory_mb is not None:
        _set(resource.RLIMIT_AS, int(memory_mb) * mb)
    if file_size_mb is not None:
        _set(resource.RLIMIT_FSIZE, int(file_size_mb) * mb)
    if max_processes is not None:
        _set(resource.RLIMIT_NPROC, int(max_processes))


def first_for_the_oom_killer():
    """Be the process the kernel's OOM killer ends first (Linux; elsewhere nothing to do)."""
    try:
        with open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("1000")
    except OSError:
        pass


def _set(which, soft, hard=None):
    import resource
    hard = soft if hard is None else hard
    _, old_hard = resource.getrlimit(which)
    if old_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, old_hard), min(hard, old_hard)
    resource.setrlimit(which, (soft, hard))
