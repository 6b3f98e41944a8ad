"""Layer: seccomp, a syscall filter the zygote loads on itself once (inside/zygote_process.py);
every worker inherits it. Unprivileged (it needs only no_new_privs) and it only takes rights
away.

Stops: tracing or reading other processes (ptrace, process_vm_readv/writev, pidfd_getfd,
kcmp), new namespaces (so no user namespace gives capabilities back), mounts, bpf,
perf_event_open, keyrings, userfaultfd, io_uring, inotify/fanotify, the kernel log; System V
IPC and POSIX message queues (objects that outlive a process); naming a socket and, without
network, reaching one by name (connect, sendto with an address, and datagram sockets, the
only ones whose sendmsg takes an address: the filter cannot read sendmsg's) or making any
socket but AF_UNIX.

Full mode: yes, behind the namespaces.
Docker mode: yes (Docker's own profile allows loading a filter): the wall for everything
           above, with no namespace behind it.
Portable mode: none.

Runs inside the sandbox (stdlib and pyseccomp from the venv). Best effort: without
pyseccomp or libseccomp2 grading goes on with the other layers, and the zygote reports
which layers are active (the grader logs them).
"""
import errno
import socket

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
SOCKET_TYPE_MASK = 0xF  # the type argument without SOCK_NONBLOCK and SOCK_CLOEXEC
DATAGRAM_TYPES = (socket.SOCK_DGRAM, socket.SOCK_RAW)
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
            # sendmsg's address sits behind a pointer no filter can read. AF_UNIX stream and
            # seqpacket sockets refuse or ignore one; datagram sockets (SOCK_RAW is one too
            # for AF_UNIX) would send to any name, so none can be made.
            for kind in DATAGRAM_TYPES:
                for call in ("socket", "socketpair"):
                    f.add_rule(sc.ERRNO(errno.EPERM), call, sc.Arg(0, sc.EQ, socket.AF_UNIX),
                               sc.Arg(1, sc.MASKED_EQ, SOCKET_TYPE_MASK, kind))
        f.load()
        return True
    except Exception:
        return False
