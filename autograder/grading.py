"""The course configuration, and grading one submission in a child process.

`grade()` is what TA tools call (regrade, validate, bench): every submission gets its own
trusted `python -m autograder grade` process, so nothing one submission does to a grading
process (or its memory) can reach the next one.
"""
from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

ENGINE_ROOT = Path(__file__).resolve().parent.parent  # the folder holding autograder/ and autograder.cfg
CONFIG_ENV = "AUTOGRADER_CONFIG"
DEFAULT_TEST_TIMEOUT_S = 180.0
DEFAULT_TOTAL_TIMEOUT_S = 540.0  # under Gradescope's default 10-minute limit, with room to finish


@dataclass
class Course:
    """Paths from autograder.cfg [autograder], resolved against the config file's folder."""

    config_path: Path
    root: Path
    suite: Path
    public_suite: Path
    reference: Path
    template: Path
    kit_files: list[str]
    test_timeout_s: float
    total_timeout_s: float
    sandbox: dict[str, str] = field(default_factory=dict)
    # A file the public suite writes while the build grades the reference on it (build.py,
    # RECORD_ENV names where), shipped in the kit at this path; "" for none.
    kit_recording: str = ""

    def words(self, key: str) -> list[str]:
        """A space-separated list from [sandbox], e.g. `forbidden`."""
        return self.sandbox.get(key, "").split()


def config_path(explicit: Path | str | None = None) -> Path:
    if explicit:
        return Path(explicit).resolve()
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).resolve()
    return ENGINE_ROOT / "autograder.cfg"


def load_course(explicit: Path | str | None = None) -> Course:
    path = config_path(explicit)
    parser = configparser.ConfigParser(interpolation=None)
    if not parser.read(path):
        raise FileNotFoundError(f"no autograder configuration at {path}")
    section = parser["autograder"] if parser.has_section("autograder") else {}
    root = path.parent

    def where(key: str, default: str) -> Path:
        return (root / section.get(key, default)).resolve()

    return Course(
        config_path=path,
        root=root,
        suite=where("suite", "tests/graded"),
        public_suite=where("public_suite", "tests/graded/public"),
        reference=where("reference", "reference"),
        template=where("template", "student_template"),
        kit_files=section.get("kit_files", "").split(),
        test_timeout_s=float(section.get("test_timeout_s", DEFAULT_TEST_TIMEOUT_S)),
        total_timeout_s=float(section.get("total_timeout_s", DEFAULT_TOTAL_TIMEOUT_S)),
        sandbox=dict(parser["sandbox"]) if parser.has_section("sandbox") else {},
        kit_recording=section.get("kit_recording", "").strip(),
    )


def grade_command(submission: Path, out: Path, *, public_only: bool = False,
                  config: Path | None = None, extra_pytest_args: Iterable[str] = ()) -> list[str]:
    cmd = [sys.executable, "-m", "autograder", "grade", str(submission), "--out", str(out), "--quiet"]
    if public_only:
        cmd.append("--public-only")
    if config is not None:
        cmd += ["--config", str(config)]
    extra = list(extra_pytest_args)
    if extra:
        cmd += ["--", *extra]
    return cmd


def grade(submission: Path | str, out: Path | str | None = None, *, public_only: bool = False,
          sandbox_user: str | None = None, extra_pytest_args: Iterable[str] = (),
          timeout_s: float | None = None, config: Path | str | None = None) -> dict[str, Any]:
    """Grade `submission` in a fresh trusted process and return its results.json.

    The returned document is always valid: if the child is killed by `timeout_s` or dies,
    the file it last wrote atomically (its fallback or progress) is what comes back, with
    a note saying the run did not finish."""
    from autograder import results as results_mod

    submission = Path(submission).resolve()
    with tempfile.TemporaryDirectory(prefix="autograder-grade-") as tmp:
        target = Path(out).resolve() if out is not None else Path(tmp) / "results.json"
        cmd = grade_command(submission, target, public_only=public_only,
                            config=Path(config).resolve() if config else None,
                            extra_pytest_args=extra_pytest_args)
        env = dict(os.environ)
        if sandbox_user:
            env["AUTOGRADER_SANDBOX_USER"] = sandbox_user
        proc = subprocess.Popen(cmd, cwd=ENGINE_ROOT, env=env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            log, _ = proc.communicate(timeout=timeout_s)
            problem = None if proc.returncode in (0, 1) else f"the grading process exited with {proc.returncode}"
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            log, _ = proc.communicate()
            problem = f"the grading process took longer than {timeout_s:g} s and was stopped"
        try:
            doc = results_mod.read(target)
            valid = not results_mod.problems(doc)
        except (OSError, ValueError):
            doc, valid = None, False
        if not valid:
            doc = results_mod.grader_error(problem or "the grading process wrote no results")
            results_mod.write_atomic(target, doc)
        elif problem and proc.returncode != 3:
            doc["output"] = f"**Grading did not finish:** {problem}.\n\n" + doc.get("output", "")
            results_mod.write_atomic(target, doc)
        if problem:
            sys.stderr.write(f"autograder: {submission}: {problem}\n{log.decode(errors='replace')[-4000:]}\n")
        return doc


def _kill_group(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM first: the grading process then stops its workers and writes its final file."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
