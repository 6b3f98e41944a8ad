"""Progress of a regrade: a bar with an ETA on a terminal, plain log lines otherwise."""
from __future__ import annotations

import sys
import threading
import time

from autograder.regrade.layout import GRADED
from autograder.results import format_points


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "--:--"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """A one-line bar with an ETA on a terminal; one plain log line per submission otherwise
    (batch schedulers keep logs, not terminals)."""

    def __init__(self, total: int, stream=None, tty: bool | None = None):
        self.total = total
        self.done = 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.t0 = time.monotonic()
        self.lock = threading.Lock()

    def eta(self) -> float | None:
        if self.done == 0:
            return None
        elapsed = time.monotonic() - self.t0
        return elapsed / self.done * (self.total - self.done)

    def update(self, record: dict) -> None:
        with self.lock:
            self.done += 1
            status = record.get("status")
            if status == GRADED:
                what = f"graded {format_points(record.get('total'))}"
            else:
                what = f"{status}: {str(record.get('error') or '')[:80]}"
            if self.tty:
                width = 30
                filled = int(width * self.done / max(self.total, 1))
                bar = "#" * filled + "-" * (width - filled)
                line = (f"\r[{bar}] {self.done}/{self.total} ETA {format_duration(self.eta())} "
                        f"{record.get('submission_id')}: {what}")
                self.stream.write(line[:160].ljust(160))
            else:
                self.stream.write(f"regrade: [{self.done}/{self.total}] {record.get('submission_id')} {what} "
                                  f"in {record.get('duration_s', 0):.1f}s, ETA {format_duration(self.eta())}\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
