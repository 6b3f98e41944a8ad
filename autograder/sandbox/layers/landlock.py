"""Layer: Landlock, a file-access policy each worker puts on itself (inside/zygote_process.py)
before running student code. Unprivileged (it needs only no_new_privs), it only takes rights
away, and every child inherits it.

Stops: reading anything but the system, the interpreter, the runtime and the submission (so
no course checkout, no other grading's folders, no `/tmp` of others); writing anywhere but
the worker's own folder (no file, FIFO or named socket in the shared temporary folders);
with ABI 6, signals and abstract AF_UNIX sockets outside the worker's domain.

Full mode: yes where the kernel has it (5.13+), behind the mount namespace.
Docker mode: the same, and then the only wall on reads besides the sandbox user.
Portable mode: none.

Runs inside the sandbox (stdlib, ctypes).
"""
import ctypes
import os

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


def available_abi():
    try:
        return max(int(_libc().syscall(_SYS_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)), 0)
    except (OSError, AttributeError):
        return 0


def restrict(readable, writable, abi=None):
    """From now on this process and its children may read (and execute) only below
    `readable`, and write only below `writable`; with ABI 6, signal only processes in
    their own domain. Paths that do not exist are skipped. Returns True when enforced."""
    abi = available_abi() if abi is None else abi
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
