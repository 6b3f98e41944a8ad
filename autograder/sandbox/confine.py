"""Kernel layers the untrusted side puts on itself: seccomp (once, in the zygote) and
Landlock (per worker). Both are unprivileged (they need only no_new_privs) and only ever
take rights away, so a process can apply them to itself and every child inherits them.

Runs inside the sandbox (stdlib, ctypes, and pyseccomp from the venv when installed).
Each layer is best effort: when the kernel or container lacks it, grading goes on with
the others, and the zygote reports which layers are active (the grader logs them).
"""
import ctypes
import errno
import os
import socket

# ------------------------------------------------------------------ seccomp

# Syscalls no student code needs and that reach other processes, the kernel's attack
# surface, or new namespaces (a user namespace would give back capabilities).
DENIED_SYSCALLS = (
    "ptrace", "process_vm_readv", "process_vm_writev", "unshare", "setns", "mount", "umount2",
    "pivot_root", "chroot", "bpf", "perf_event_open", "keyctl", "add_key", "request_key",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "kexec_load",
    "init_module", "finit_module", "delete_module", "open_by_handle_at", "name_to_handle_at",
    "fsopen", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
    # another process's descriptors (a live worker's channel to the grader) or its layout
    "pidfd_getfd", "kcmp", "process_madvise",
    # watching files other gradings open (Landlock checks opens, not inotify's path walk)
    "inotify_init", "inotify_init1", "inotify_add_watch", "fanotify_init", "fanotify_mark",
    "syslog",
)
# Kernel objects that belong to the uid or the host, not to a process: System V shared
# memory, message queues and semaphores, and POSIX message queues. A worker's object would
# outlive it (a later test or a concurrent grading could read it), and shared memory
# escapes the address-space limit. Denied in every mode (Gradescope has no IPC namespace).
IPC_SYSCALLS = (
    "shmget", "shmat", "shmctl", "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl",
    "semget", "semop", "semtimedop", "semtimedop_time64", "semctl", "ipc",
    "mq_open", "mq_unlink", "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive",
    "mq_timedreceive_time64", "mq_notify", "mq_getsetattr",
)
# Naming a socket, or reaching one by name: an abstract AF_UNIX name lives in the network
# namespace, which workers share with the grader (and other gradings) when there is none of
# their own. A worker's only channel is a connected socketpair, so it needs none of these.
# (Landlock ABI 6 scopes abstract sockets as well, where the kernel has it.)
SOCKET_NAMING = ("bind", "listen", "accept", "accept4")
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                   0x40000000, 0x00000080)


def seccomp_filter(network):
    """Deny the syscalls above (EPERM), clone with a namespace flag, clone3 (ENOSYS: libc
    falls back to clone, whose flags a filter can see), and, without network, every
    socket family but AF_UNIX, and every way to reach an AF_UNIX socket by its name
    (connect, and sendto with an address). Returns True when a filter was loaded."""
    try:
        import pyseccomp as sc
    except Exception:  # not installed, or no libseccomp2 on this system
        return False
    try:
        f = sc.SyscallFilter(sc.ALLOW)
        for name in DENIED_SYSCALLS + IPC_SYSCALLS + SOCKET_NAMING:
            try:
                f.add_rule(sc.ERRNO(errno.EPERM), name)
            except (OSError, ValueError, RuntimeError):
                pass  # not a syscall on this architecture
        for flag in NAMESPACE_FLAGS:
            f.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        if not network:
            f.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), "socket", sc.Arg(0, sc.NE, socket.AF_UNIX))
            # Only AF_UNIX sockets exist then; send() passes no address, so this costs nothing.
            f.add_rule(sc.ERRNO(errno.EPERM), "connect")
            f.add_rule(sc.ERRNO(errno.EPERM), "sendto", sc.Arg(4, sc.NE, 0))
        f.load()
        return True
    except Exception:
        return False


# ------------------------------------------------------------------ Landlock

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # same on every arch
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1, 2, 4, 8
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR, MAKE_REG = 16, 32, 64, 128, 256
MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM, REFER, TRUNCATE, IOCTL_DEV = (
    512, 1024, 2048, 4096, 8192, 16384, 32768)
READ = EXECUTE | READ_FILE | READ_DIR
_FILE_ONLY = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1, 2


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _Ruleset(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi():
    try:
        return max(int(_libc().syscall(_SYS_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)), 0)
    except (OSError, AttributeError):
        return 0


def landlock_restrict(readable, writable, abi=None):
    """From now on this process and its children may read (and execute) only below
    `readable`, and write only below `writable`; with ABI 6, signal only processes in
    their own domain. Paths that do not exist are skipped. Returns True when enforced."""
    abi = landlock_abi() if abi is None else abi
    if abi < 1:
        return False
    handled = (READ | WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_CHAR | MAKE_DIR | MAKE_REG
               | MAKE_SOCK | MAKE_FIFO | MAKE_BLOCK | MAKE_SYM)
    if abi >= 2:
        handled |= REFER
    if abi >= 3:
        handled |= TRUNCATE
    if abi >= 5:
        handled |= IOCTL_DEV
    libc = _libc()
    attr = _Ruleset(handled, 0, (_SCOPE_SIGNAL | _SCOPE_ABSTRACT_UNIX) if abi >= 6 else 0)
    size = ctypes.sizeof(_Ruleset) if abi >= 6 else 8  # older kernels want the short struct
    fd = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if fd < 0:
        return False
    try:
        for paths, access in ((readable, READ), (writable, handled)):
            for path in paths:
                try:
                    pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    allowed = access if os.path.isdir(path) else access & _FILE_ONLY
                    rule = _PathBeneath(allowed & handled, pfd)
                    if libc.syscall(_SYS_ADD_RULE, fd, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
                        return False
                finally:
                    os.close(pfd)
        return libc.syscall(_SYS_RESTRICT_SELF, fd, 0) == 0
    finally:
        os.close(fd)
