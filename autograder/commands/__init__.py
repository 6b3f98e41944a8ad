"""The verbs of `python -m autograder` that are the engine's own, one module each (the table
from verb to module is autograder/cli.py). Exit codes, shared by every verb:
0 success, 1 the run found problems, 2 usage error, 3 grader (internal) error."""
import contextlib
import signal

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_GRADER = 0, 1, 2, 3
EXIT_STOPPED = 130  # Ctrl-C or SIGTERM, as shells report Ctrl-C (128 + SIGINT)
PROG = "python -m autograder"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt is: whoever sent it (a supervisor, a
    job scheduler's time limit) wants the run over now, not after the gradings in progress."""


@contextlib.contextmanager
def sigterm_as_interrupt():
    """SIGTERM's default action ends Python at once, with no finally block and no context
    manager's exit: a grading's process groups and temporary folders would outlive it. As an
    interrupt it takes Ctrl-C's path, clean-up included. Main thread only (signal.signal)."""
    stopping: list[int] = []

    def stop(signum, frame):
        if stopping:
            return  # a supervisor's repeat must not cut the clean-up short (SIGKILL still ends us)
        stopping.append(signum)
        raise Terminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
