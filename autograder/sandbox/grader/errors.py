"""What student code did wrong, as the trusted side reports it (Markdown for feedback)."""
from typing import List, NamedTuple

from ...untrusted import code_span, fence


# Type names the engine gives what it saw (never an exception of the student's code).
ENGINE_MADE = ("BadValue", "WorkerCrashed", "Interrupted")


class SandboxError(Exception):
    """A grader (not student) problem: the sandbox cannot be set up as configured."""


class StudentFrame(NamedTuple):
    file: str       # relative to the submission root, e.g. "beras/layers.py"
    line: int
    function: str
    source: str     # the source line, stripped ("" if unknown)


class GraderCodeFrame(NamedTuple):
    """The innermost frame of the test's own code run in the worker (compiled as "<grader: ...>")
    that the exception passed through, and how many student frames came after it (0: the
    exception was raised in the test's code itself, or in a library it called)."""
    file: str       # e.g. "<grader: probes.py>"
    line: int
    function: str
    student_frames_after: int


class StudentError(Exception):
    """Student code raised (or misbehaved). Only student frames are kept; `test_code` says
    where the test's own worker-side code was on the way (None: it was not)."""

    def __init__(self, type_name: str, message: str, frames=(), output: str = "", test_code=None):
        self.type_name = type_name
        self.message = message
        self.frames: List[StudentFrame] = [_frame(*f) for f in frames]
        self.output = output
        self.test_code = test_code
        super().__init__(str(self))

    def __str__(self):
        where = f" (at {self.frames[-1].file}:{self.frames[-1].line})" if self.frames else ""
        return f"{self.type_name}: {self.message}{where}"

    @property
    def location(self):
        """The innermost student frame, or None."""
        return self.frames[-1] if self.frames else None

    def traceback_text(self):
        lines = []
        if self.frames:
            lines.append("Traceback (your code only, most recent call last):")
            for f in self.frames:
                lines.append(f'  File "{f.file}", line {f.line}, in {f.function}')
                if f.source:
                    lines.append(f"    {f.source.strip()}")
        # The engine's own names for what happened (BadValue, WorkerCrashed) mean nothing to
        # a student: the message says it in words.
        lines.append(self.message if self.type_name in ENGINE_MADE else f"{self.type_name}: {self.message}")
        return "\n".join(lines)

    def markdown(self):
        """A few lines of Markdown: what happened and where. Every name and line in it is
        the student's (or their code's) text, so it is quoted by autograder.untrusted."""
        loc = self.location
        where = f" at {code_span(loc.file)} line {loc.line}" if loc else ""
        return f"{self.headline()}{where}:\n\n{fence(self.traceback_text())}\n"

    def headline(self):
        return f"Your code raised {code_span(self.type_name)}"


class WorkerCrashed(StudentError):
    """The worker died: exit(), os._exit, a signal, the memory limit, or a broken protocol."""

    def headline(self):
        return "The process running your code stopped"


class WorkerTimeout(StudentError):
    """A call ran past the wall-clock limit, or the worker ran out of CPU time."""

    def headline(self):
        return "Your code ran out of time"


class BadValue(StudentError):
    """A value came back that the grader cannot accept (type, dtype or size)."""

    def headline(self):
        return "Your code returned a value the grader cannot check"


class TooLarge(BadValue):
    """A fetched value over its fetch's budget: refused by the worker before it was sent (or,
    from a worker that ignored the budget, from the frame's header before any byte was read)."""

    def headline(self):
        return "Your code returned a value far larger than the test expects"


def _frame(file, line, function, source=""):
    # The worker reports these; a line number that is not a number would be text in our
    # Markdown, outside any quoting.
    try:
        line = int(line)
    except (TypeError, ValueError):
        line = 0
    return StudentFrame(str(file), line, str(function), str(source or ""))


class SetAsideAtImport(NamedTuple):
    """A submission module that raised while it was imported, kept as far as it ran (the
    worker's note, see partial_import.py): the error, where it was raised, and the line of
    the module itself that was running then (the same place unless the error came from
    another file, e.g. a name missing from a module set aside before)."""
    module: str         # e.g. "beras.losses"
    type_name: str
    message: str
    file: str           # relative to the submission, "" if no file of it
    line: int
    stopped_file: str   # the module's own file and line
    stopped_line: int
    unreadable: bool = False  # Python could not compile the module: none of it ran

    @classmethod
    def from_note(cls, module, info):
        """The record of a worker's note, or None when the note is malformed (it is untrusted)."""
        if type(info) is not dict:
            return None
        texts = [info.get(k) for k in ("type", "message", "file")]
        stopped = info.get("stopped")
        if not (all(type(t) is str for t in texts) and type(info.get("line")) is int
                and type(stopped) is list and len(stopped) == 2 and type(stopped[0]) is str
                and type(stopped[1]) is int):
            return None
        kind, message, file = texts
        return cls(module, kind[:200], message[:300], file[:300], max(info["line"], 0),
                   stopped[0][:300], max(stopped[1], 0), info.get("unreadable") is True)
