"""Sandbox: one per graded submission. Its folder (folder.py), its user, its zygote, and
the rule that nothing a worker started survives the worker. No process running as root
ever imports or executes anything below its folder: the zygote is started as the sandbox
user (see zygote.py, namespaces.py).

Where this full sandbox cannot run (not Linux), or when AUTOGRADER_PORTABLE=1 asks for it,
`Sandbox(...)` gives the portable one instead (backend.py says which, portable.py).
"""
import os
import shutil
import sys

from ... import timing
from . import backend, launch
from .cpu_share import CpuShare
from ..layers import disk_budget, namespaces, sweeping
from .channel import _InProcessChannel
from .config import SandboxConfig, checked_setup
from .errors import SandboxError
from .folder import make_sandbox_dir
from ..layers.sandbox_user import check_interpreter_runnable, claim_sandbox_user
from .worker import StartsWorkers, Worker
from .zygote import Zygote, spawn_worker


class Sandbox(StartsWorkers):
    """One per graded submission: a private copy of it, and a warm zygote forking workers."""

    def __new__(cls, submission_root, config=None):
        # Where this sandbox cannot run (or AUTOGRADER_PORTABLE=1), the portable one: the
        # choice is backend.py's, made here so that every caller of Sandbox() gets it.
        if cls is Sandbox and backend.use_portable(config):
            from .portable import PortableSandbox
            return PortableSandbox(submission_root, config)
        return super().__new__(cls)

    def __init__(self, submission_root, config=None):
        with timing.measure("sandbox.create"):
            self._create(submission_root, config)

    def _create(self, submission_root, config):
        self.submission_root, self.config = checked_setup(submission_root, config)
        self.user = None
        # module name -> the timeout that stopped its import (see Worker.import_module)
        self.import_timeouts = {}
        # module name -> SetAsideAtImport: modules kept as far as they ran after raising at
        # import (config.keep_partial_imports), as the workers noted them
        self.imports_set_aside = {}
        self._zygote = None
        self._dir = None
        self._plan = None
        self._live = set()  # channels of workers not finished yet
        self._disk = None   # the workers' folders' budget, watched where no tmpfs caps them
        self._cpu = CpuShare()  # none yet: nothing pinned
        if self.config.in_process:
            return
        try:
            if os.geteuid() == 0:
                self.user = claim_sandbox_user(self.config.user)
            self._dir = self._make_sandbox_dir()
            if self.user is not None:
                self._plan = namespaces.Plan(self.user, self.config.network, self._dir / "work",
                                             self.config.scratch_mb, hide=launch.course_paths(self),
                                             namespaces=self._namespaces_wanted())
            if not (self._plan is not None and self._plan.mount):
                self._disk = disk_budget.Watch(self._dir / "work", self.config.scratch_mb)
            sweeping.live_boxes.add(self)
            if self.config.share_cpu:
                self._cpu = CpuShare.claim()
            self._zygote = Zygote(self)  # boots (imports numpy) while we check the interpreter
            if self.user is not None:
                check_interpreter_runnable(self._python(), self.user)
            self._cpu.pin_this_thread()  # after the check, which ran beside the zygote's boot
        except BaseException:
            self.close()
            raise

    def _namespaces_wanted(self):
        try:
            return namespaces.wanted(self.config.namespaces)
        except ValueError as err:
            raise SandboxError(str(err)) from None

    # -------------------------------------------------------------- public
    def start_worker(self):
        with timing.measure("sandbox.spawn"):
            if self.config.in_process:
                return Worker(_InProcessChannel(self), self.config, self.import_timeouts, self.imports_set_aside)
            return Worker(self._spawn(), self.config, self.import_timeouts, self.imports_set_aside)

    @property
    def network_isolated(self):
        """True when workers have no network (a network namespace, or seccomp's socket rule)."""
        if self._zygote is None:
            return False
        self._zygote.wait_ready()
        return "no-network" in self.layers or ("seccomp" in self.layers and not self.config.network)

    @property
    def layers(self):
        """The isolation layers in force for this sandbox's workers, e.g. ["pid-namespace",
        "seccomp", "landlock(abi 7)"] (see README, "Isolation")."""
        if self._zygote is None:
            return []
        self._zygote.wait_ready()
        return (["sandbox-user"] if self.user is not None else []) \
            + (self._plan.layers() if self._plan is not None else []) + list(self._zygote.layers)

    def describe(self):
        """One line for the staff log: who runs student code, and the layers in force."""
        if self.config.in_process:
            return "sandbox: IN-PROCESS (benchmark mode): no isolation at all"
        who = f"user {self.user.pw_name} (uid {self.user.pw_uid})" if self.user else f"this user (uid {os.getuid()})"
        mode = " (namespaces forced off: Docker mode)" if self._plan is not None and self._plan.docker_mode else ""
        return f"sandbox: student code runs as {who}; isolation layers active: {', '.join(self.layers) or 'none'}{mode}"

    @property
    def sandbox_dir(self):
        """The private directory the worker runs in (its copy of the submission is below)."""
        return self._dir

    def close(self):
        """Stop the zygote and everything left of the workers; delete the private copy."""
        with timing.measure("sandbox.close"):
            self._close()

    def _close(self):
        if self._zygote is not None:
            self._zygote.stop()
            self._zygote = None
        self._live.clear()
        self._cpu.release()
        sweeping.live_boxes.discard(self)
        if self.user is not None:
            user, self.user = self.user, None
            sweeping.release_user(self, user)
        elif self._dir is not None:
            self.sweep()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def sweep(self):
        """Kill leftovers outside any live zygote's tree (sweeping.sweep says how)."""
        return sweeping.sweep(self)

    def _after_worker(self, channel, status):
        sweeping.after_worker(self, channel, status)

    # -------------------------------------------------------------- setup
    def _python(self):
        return self.config.python or sys.executable

    def _make_sandbox_dir(self):
        self._token = os.urandom(8).hex()
        return make_sandbox_dir(self.submission_root, self.user)

    def _spawn(self):
        channel = spawn_worker(self)
        self._live.add(channel)
        return channel

    def _drop_zygote(self):
        self._zygote.stop()
        self._zygote = None
        for ch in list(self._live):
            if ch.zygote is not self._zygote:
                self._live.discard(ch)
        self.sweep()  # its workers' orphans went to init; find them by token/uid

