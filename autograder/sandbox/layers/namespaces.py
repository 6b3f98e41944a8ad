"""Layer: the namespaces (PID with a fresh /proc, mount, net, IPC). The trusted side's part
of isolation, done as root BEFORE anything untrusted runs.

Full mode: all four where the host allows them, as below.
Docker mode: none (Gradescope's container has no CAP_SYS_ADMIN; AUTOGRADER_NAMESPACES=off
           forces the same anywhere): every guarantee must hold with the other layers, and
           workers see the container's processes and have no total cap on what they write.
Portable mode: none.

The zygote is started by the grader as the sandbox user, never as root. Between fork and
exec (Popen's preexec_fn: code already in the grader's memory, no file the sandbox user
could touch) the child enters new namespaces and drops to the sandbox user:

    PID    the child forks once more, as root: the grandchild (the zygote proper) is init of
           a namespace of its own, and mounts a fresh /proc for it, so student processes
           cannot see, read the command lines of, or signal anything outside it; they
           cannot signal the zygote (init ignores them), and killing that init ends every
           process inside at once. The child only waits for it, and ends with it.
    mount  private mounts: an empty read-only tmpfs over the course checkout, and a
           size-capped tmpfs for the workers' writable folders (a total cap on disk use).
    net    no interface but a downed loopback (unless the course allows network). Abstract
           AF_UNIX names live here too: the grader's and other gradings' are out of reach.
    IPC    System V objects and POSIX message queues of their own, destroyed with the
           namespace (seccomp refuses them anyway: this is the second wall).

Each is probed once; what the kernel or container refuses is left out and logged.

Gradescope's Docker container refuses all of them (no CAP_SYS_ADMIN), so every guarantee
must hold without them. `[sandbox] namespaces = false` or AUTOGRADER_NAMESPACES=off
("Docker mode") leaves them all out on any host, so that the hostile suite can prove it:
the zygote then gets only the drop to the sandbox user, and the untrusted side's own
layers (seccomp, Landlock, rlimits, a non-dumpable zygote).
"""
import ctypes
import os

CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWIPC = 0x00020000, 0x20000000, 0x40000000, 0x08000000
MS_NOSUID, MS_NODEV, MS_RDONLY, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x1, 0x8, 0x4000, 0x40000
FRESH_PROC = "fresh-proc"  # not a flag: a proc mount of the new PID namespace (needs both)

NAMESPACES_ENV = "AUTOGRADER_NAMESPACES"
_OFF, _ON = ("0", "false", "no", "off"), ("", "1", "true", "yes", "on")

_probed = {}


def wanted(config_allows):
    """Whether to use namespaces where the host allows them: the course's `namespaces`
    setting, unless $AUTOGRADER_NAMESPACES=off forces them off for this run. Any other
    value of the variable is refused rather than guessed (a typo must not mean "on")."""
    raw = os.environ.get(NAMESPACES_ENV, "").strip().lower()
    if raw in _OFF:
        return False
    if raw not in _ON:
        raise ValueError(f"{NAMESPACES_ENV}={os.environ[NAMESPACES_ENV]!r}: use 'off' (Docker mode: no "
                         f"namespaces) or leave it unset")
    return bool(config_allows)


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _unshare(flags):
    if _libc().unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare({flags:#x}): {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None):
    if _libc().mount(source.encode() if source else None, target.encode(),
                     fstype.encode() if fstype else None, ctypes.c_ulong(flags),
                     data.encode() if data else None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _mount_proc():
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _probe(flag):
    """In a forked child: can root do what Plan.preexec will do for `flag`?"""
    if flag == FRESH_PROC:
        _unshare(CLONE_NEWPID | CLONE_NEWNS)
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        init = os.fork()
        if init == 0:
            try:
                _mount_proc()
                os._exit(0 if os.listdir("/proc") and os.getpid() == 1 else 1)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(init, 0)
        os._exit(os.waitstatus_to_exitcode(status))
    _unshare(flag)
    if flag == CLONE_NEWNS:
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        _mount("tmpfs", "/mnt", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")


def available(flag):
    """Whether this kernel and container let root create the namespace (probed in a child)."""
    if os.geteuid() != 0:
        return False
    if flag not in _probed:
        pid = os.fork()
        if pid == 0:
            try:
                _probe(flag)
                os._exit(0)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        _probed[flag] = os.waitstatus_to_exitcode(status) == 0
    return _probed[flag]


class Plan:
    """What the zygote's child does between fork and exec, decided up front."""

    def __init__(self, user, network, work_dir, work_mb, hide=(), namespaces=True):
        self.user = user
        self.docker_mode = not namespaces
        # Docker mode (namespaces=False): every namespace counts as refused, as in
        # Gradescope's container. A new namespace must be probed through `allowed` too.
        allowed = available if namespaces else (lambda flag: False)
        self.pid = allowed(CLONE_NEWPID)
        self.mount = allowed(CLONE_NEWNS)
        self.net = not network and allowed(CLONE_NEWNET)
        self.ipc = allowed(CLONE_NEWIPC)
        self.proc = self.pid and self.mount and allowed(FRESH_PROC)
        self.work_dir = str(work_dir)
        self.work_mb = int(work_mb)
        self.hide = [str(p) for p in hide] if self.mount else []

    def layers(self):
        out = []
        if self.pid:
            out.append("pid-namespace")
            if self.proc:
                out.append("fresh-proc")
        if self.ipc:
            out.append("ipc-namespace")
        if self.mount:
            out.append("mount-namespace")
            out.append(f"capped-scratch({self.work_mb} MB)")
            if self.hide:
                out.append("course-hidden")
        if self.net:
            out.append("no-network")
        return out

    def preexec(self):
        """In the child, after fork, before exec. Any failure aborts the start (Popen
        raises), so no zygote ever runs half isolated."""
        flags = (CLONE_NEWPID if self.pid else 0) | (CLONE_NEWNS if self.mount else 0) \
            | (CLONE_NEWNET if self.net else 0) | (CLONE_NEWIPC if self.ipc else 0)
        if flags:
            _unshare(flags)
        if self.mount:
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            uid, gid = self.user.pw_uid, self.user.pw_gid
            _mount("tmpfs", self.work_dir, "tmpfs", MS_NOSUID | MS_NODEV,
                   f"size={self.work_mb}m,mode=0700,uid={uid},gid={gid}")
            for path in self.hide:
                _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=0755")
        if self.pid:
            # Only a process inside the new PID namespace can mount its /proc, and only while
            # root: so the namespace's init is forked here, not by the zygote (never root).
            if os.fork() != 0:
                _wait_for_init_then_exit()
            if self.proc:
                _mount_proc()
        os.setgroups([])
        os.setresgid(self.user.pw_gid, self.user.pw_gid, self.user.pw_gid)
        os.setresuid(self.user.pw_uid, self.user.pw_uid, self.user.pw_uid)
        # After the uid change (which clears it): this process dies with the grader.
        _libc().prctl(1, ctypes.c_ulong(9), 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL


def _wait_for_init_then_exit():
    """The child the grader started, once it has forked the namespace's init: it holds no
    descriptor (Popen's error pipe included, so the start is reported by init's exec), dies
    with the grader, and ends when init ends. It never returns to exec anything."""
    try:
        os.closerange(3, 1 << 16)
        _libc().prctl(1, ctypes.c_ulong(9), 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
        while True:
            try:
                os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
    finally:
        os._exit(0)


def ns_pid_of(host_pid):
    """The innermost pid of a process (its pid inside its PID namespace), from NSpid."""
    try:
        with open(f"/proc/{host_pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        pass
    return None
