"""Isolated execution of untrusted (student) code. See docs/architecture.md, "The sandbox API".

    box = Sandbox(submission_root, course.load().sandbox)   # or SandboxConfig(...) in code
    with box.worker() as w:
        layers = w.import_module("beras.layers")
        y = fetch(layers.Dense(3, 4)(np.ones((2, 3))))
"""
from .grader import cputime
from .grader.channel import safe_text
from .grader.fetching import budget_for, fetch
from .grader.remote import Remote
from .grader.sandbox import Sandbox
from .grader.worker import Worker
from .grader.config import SandboxConfig
from .grader.errors import (BadValue, GraderCodeFrame, SandboxError, StudentError, StudentFrame, TooLarge, WorkerCrashed,
                            WorkerTimeout)
from .layers.sandbox_user import ensure_sandbox_user

__all__ = [
    "Sandbox", "SandboxConfig", "Worker", "Remote", "fetch", "budget_for", "safe_text", "cputime",
    "StudentError", "StudentFrame", "GraderCodeFrame", "WorkerCrashed", "WorkerTimeout", "BadValue", "TooLarge", "SandboxError",
    "ensure_sandbox_user",
]
