#!/usr/bin/env python3
"""One entry point for a fresh machine that has only python3.

    python3 dev.py example        grade the bundled example submission (offline)
    python3 dev.py test [ARGS]    run the project's whole test suite (ARGS go to pytest)
    python3 dev.py check [DIR]    run the public tests on DIR (default: here), as students do
    python3 dev.py run ARGS       run `python ARGS` inside the project's environment (TA tools)
    python3 dev.py setup          only prepare the environment for grading (setup.sh uses it)

It makes a virtual environment, installs the dependencies listed in pyproject.toml
(only when they are not installed yet) and re-runs the command inside it. Grading needs
only `dependencies`; `example`, `test` and `run` (the project's own demo, its tests and the
TA tools) add the `dev` extras, so a student's or Gradescope's environment stays small.

Where the environment lives matters when we are root: grading then runs student code as
an unprivileged user, who must be able to execute the interpreter and read
site-packages. Root's home is private, so as root we build from the system python3 into
a world-readable directory, and refuse a BERAS_VENV below a folder others cannot enter
(we never loosen the permissions of a folder we did not create).
"""
from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PYPROJECT = ROOT / "pyproject.toml"
EXAMPLE_SUBMISSION = ROOT / "reference"
# The student kit ships this file without the reference or the project's tests.
IS_KIT = not EXAMPLE_SUBMISSION.is_dir()
KIT_HELP = """The student kit's one command:

    python3 dev.py check          run the public tests on your work (this folder), print a
                                  table and feedback for every failing test

The first run makes a virtual environment in .venv (as root: /opt/beras-autograder/venv)
with numpy, pytest, hypothesis and gradescope-utils (from pyproject.toml); later runs
reuse it. See README.md.
"""
STAMP = ".beras-installed"  # the requirement lines installed so far, one per line


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def venv_dir() -> Path:
    if os.environ.get("BERAS_VENV"):
        return Path(os.environ["BERAS_VENV"]).absolute()
    if is_root():
        return Path("/opt/beras-autograder/venv")
    return ROOT / ".venv"


def base_python() -> str:
    """The interpreter to build the venv from: one the sandbox user can run when root."""
    system = Path("/usr/bin/python3")
    if is_root() and system.exists():
        ok = subprocess.run(
            [str(system), "-c", "import sys, venv; sys.exit(sys.version_info < (3, 10))"],
            capture_output=True,
        ).returncode == 0
        if ok:
            return str(system)
    return sys.executable


def requirements(extras: bool) -> list[str]:
    """The `dependencies` list of pyproject.toml, and its `dev` list when `extras`
    (quoted strings in those arrays; no tomllib on Python 3.10)."""
    text = PYPROJECT.read_text()
    found: list[str] = []
    for header in (r"^dependencies\s*=\s*\[", r"^dev\s*=\s*\[")[: 2 if extras else 1]:
        match = re.search(header + r"(.*?)^\]", text, re.S | re.M)
        if not match:
            raise SystemExit(f"dev.py: cannot find {header!r} in pyproject.toml")
        found += re.findall(r'^\s*"([^"]+)"', match.group(1), re.M)
    return found


def python_in(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def check_reachable_as_root(venv: Path) -> None:
    """As root, the sandbox user must reach the venv: every existing parent must be
    enterable by others. We refuse rather than chmod a folder that is not ours to open."""
    for parent in venv.parents:
        if not parent.exists():
            continue
        mode = stat.S_IMODE(parent.stat().st_mode)
        if not mode & stat.S_IXOTH:
            raise SystemExit(
                f"dev.py: as root, grading runs student code as an unprivileged user who must run "
                f"the interpreter in {venv}, but {parent} (mode {mode:o}) is closed to other users. "
                f"Choose a BERAS_VENV below folders everyone may enter (the default is "
                f"/opt/beras-autograder/venv); dev.py never changes the permissions of {parent}.")


def ensure_venv(extras: bool) -> Path:
    venv = venv_dir()
    wanted = requirements(extras)
    stamp = venv / STAMP
    installed = set(stamp.read_text().splitlines()) if stamp.is_file() else set()
    if python_in(venv).exists() and set(wanted) <= installed:
        return python_in(venv)
    if is_root():
        check_reachable_as_root(venv)
    names = [re.split(r"[<>=!~;\[ ]", w, maxsplit=1)[0] for w in wanted if w not in installed]
    # pip is quiet for the whole install: say what it does and how long, not 10-30 s of silence.
    print(f"dev.py: installing {', '.join(names)} into {venv} "
          f"(about {30 if extras else 20} s, once; later runs start at once) ...", file=sys.stderr, flush=True)
    # An interrupted first run leaves a venv without pip: it is made again from scratch.
    if not python_in(venv).exists() or not _runs(str(python_in(venv)), "-m", "pip", "--version"):
        for folder in [*reversed(venv.parents), venv]:
            if not folder.exists():
                folder.mkdir()
                if is_root():
                    folder.chmod(0o755)  # made by us, whatever root's umask: ours to open
        _step([base_python(), "-m", "venv", "--clear", str(venv)], f"could not make a virtual environment in {venv}")
    pip = [str(python_in(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _step(pip + wanted, "could not install " + ", ".join(wanted) + " (is this machine online? pip's "
                        "message is above)")
    if is_root():
        # The sandbox user must read and execute everything in the environment we made.
        _step(["chmod", "-R", "a+rX", str(venv)], f"could not open {venv} to other users")
    stamp.write_text("\n".join(sorted(installed | set(wanted))) + "\n")
    return python_in(venv)


def _runs(*cmd: str) -> bool:
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def _step(cmd: list[str], failure: str) -> None:
    """Run a step of the set-up; on failure say what failed in one line, not a traceback."""
    done = subprocess.run(cmd)
    if done.returncode != 0:
        raise SystemExit(f"dev.py: {failure}. Run the same command again to retry.")


def main(argv: list[str]) -> int:
    usage = KIT_HELP if IS_KIT else __doc__
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(usage)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if IS_KIT and command != "check":
        print(f"dev.py: {command!r} is not part of the student kit.\n\n{usage}", file=sys.stderr)
        return 2
    if command not in {"example", "check", "test", "run", "setup"}:
        print(f"dev.py: unknown command {command!r}\n{usage}", file=sys.stderr)
        return 2
    # The example may train on scikit-learn's digits (no MNIST on a newcomer's machine).
    python = str(ensure_venv(extras=command in {"example", "test", "run"}))
    os.chdir(ROOT)
    if command == "example":
        out = ROOT / "results.json"
        cmd = [python, "-m", "autograder", "grade", str(EXAMPLE_SUBMISSION), "--out", str(out), *rest]
    elif command == "check":
        cmd = [python, "-m", "autograder", "check", *rest]
    elif command == "test":
        cmd = [python, "-m", "pytest", *rest]
    elif command == "setup":
        cmd = [python, "-c", "import numpy, pytest, hypothesis, gradescope_utils", *rest]
    else:
        cmd = [python, *rest]
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
