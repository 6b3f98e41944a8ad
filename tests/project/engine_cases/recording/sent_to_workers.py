"""A pytest plugin for the grading process (`-p sent_to_workers`, this folder on PYTHONPATH):
it records every string the trusted side sends to a worker (module and attribute names,
sources compiled there, their file names) and writes them, as JSON, to $SENT_TO_WORKERS_FILE
when the session ends. A worker can receive code only as such a string: the protocol sends
plain data, never a code object (autograder/sandbox/protocol.py)."""
import json
import os

import numpy as np

from autograder.sandbox.grader import worker

SENT: set = set()
_request = worker.Worker._timed_request


def strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, (list, tuple)) and not isinstance(value, np.ndarray):
        for item in value:
            yield from strings_in(item)


def recording_request(self, op, args, kwargs=None, *rest, **named):
    SENT.add(op)
    SENT.update(strings_in([args, kwargs, named.get("value")]))
    return _request(self, op, args, kwargs, *rest, **named)


worker.Worker._timed_request = recording_request


def pytest_unconfigure(config):
    with open(os.environ["SENT_TO_WORKERS_FILE"], "w") as out:
        json.dump(sorted(SENT), out)
