"""Grading many submissions at once: each job in its own grading process, on slots that
each have their own sandbox user (autograder.batch, shared with regrade)."""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

from autograder import results as results_mod
from autograder.batch import run_on_slots


@dataclasses.dataclass
class Job:
    label: str          # e.g. "mutant dense-forward-no-bias"
    submission: Path
    out: Path
    extra: tuple[str, ...] = ()
    timeout_s: float | None = None
    env: dict[str, str] = dataclasses.field(default_factory=dict)  # added to the grading's environment


@dataclasses.dataclass
class Graded:
    job: Job
    doc: dict
    seconds: float


def run_jobs(jobs: list[Job], workers: int, grade_fn: Callable[..., dict], users: list[str | None],
             progress: Callable[[Graded, int, int], None] | None = None) -> list[Graded]:
    """Grade every job, `workers` at a time, each slot with its own sandbox user. Results
    come back in the order of `jobs`."""
    def one(job: Job, user: str | None, slot: int) -> Graded:
        started = time.monotonic()
        kwargs: dict[str, Any] = {"out": job.out, "extra_pytest_args": job.extra, "timeout_s": job.timeout_s}
        if user is not None:
            kwargs["sandbox_user"] = user
        if job.env:
            kwargs["env"] = job.env
        try:
            doc = grade_fn(job.submission, **kwargs)
        except Exception as err:  # noqa: BLE001 - one broken grading must not hide the others
            doc = results_mod.grader_error(f"validate: grading raised {type(err).__name__}: {err}")
        return Graded(job, doc, time.monotonic() - started)

    done: list[Graded] = []

    def finished(graded: Graded) -> None:
        done.append(graded)
        if progress:
            progress(graded, len(done), len(jobs))

    graded = run_on_slots(jobs, users[:max(workers, 1)], one, finished)
    order = {id(job): index for index, job in enumerate(jobs)}
    return sorted(graded, key=lambda g: order[id(g.job)])
