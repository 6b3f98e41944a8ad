"""Isolated execution of untrusted (student) code. See docs/architecture.md, "The sandbox API".

    box = Sandbox(submission_root, course.load().sandbox)   # or SandboxConfig(...) in code
    with box.worker() as w:
        layers = w.import_module("beras.layers")
        y = fetch(layers.Dense(3, 4)(np.ones((2, 3))))
"""
from .channel import safe_text
from .fetching import fetch
from .remote import Remote
from .sandbox import Sandbox
from .worker import Worker
from .config import SandboxConfig
from .errors import (BadValue, GraderCodeFrame, SandboxError, StudentError, StudentFrame, TooLarge, WorkerCrashed,
                     WorkerTimeout)
from .users import ensure_sandbox_user

__all__ = [
    "Sandbox", "SandboxConfig", "Worker", "Remote", "fetch", "safe_text",
    "StudentError", "StudentFrame", "GraderCodeFrame", "WorkerCrashed", "WorkerTimeout", "BadValue", "TooLarge", "SandboxError",
    "ensure_sandbox_user",
]
