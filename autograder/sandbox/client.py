"""The trusted side's public names, kept here for code that imported them from this module.
Each idea lives in a module of its own:

    sandbox.py     Sandbox: the private folder, the sandbox user, cleaning up after workers
    zygote.py      starting and talking to the zygote (namespaces.py: what root sets up first)
    channel.py     one worker's socket and output pipe, with a deadline on every wait
    worker.py      Worker: requests, replies, and what a dead worker means for the student
    remote.py      Remote: a handle on an object in the worker
    fetching.py    fetch(): plain data back, never a handle
"""
from .channel import safe_text
from .fetching import fetch
from .remote import Remote
from .sandbox import Sandbox
from .worker import Worker

__all__ = ["Sandbox", "Worker", "Remote", "fetch", "safe_text"]
