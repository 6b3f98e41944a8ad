#!/usr/bin/env python3
"""One entry point for a fresh machine that has only python3.

    python3 dev.py example        grade the bundled example submission (offline)
    python3 dev.py test [ARGS]    run the project's whole test suite (ARGS go to pytest)
    python3 dev.py check [DIR]    students: run the public tests on your work (default: here)
    python3 dev.py run ARGS       run `python ARGS` inside the project's environment

It makes a virtual environment, installs the dependencies listed in pyproject.toml
(only when that list changed) and re-runs the command inside it.

Where the environment lives matters when we are root: grading then runs student code as
an unprivileged user, who must be able to execute the interpreter and read
site-packages. Root's home is private, so as root we build from the system python3 into
a world-readable directory.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PYPROJECT = ROOT / "pyproject.toml"
EXAMPLE_SUBMISSION = ROOT / "reference"


def venv_dir() -> Path:
    if os.environ.get("BERAS_VENV"):
        return Path(os.environ["BERAS_VENV"])
    if os.geteuid() == 0:
        return Path("/opt/beras-autograder/venv")
    return ROOT / ".venv"


def base_python() -> str:
    """The interpreter to build the venv from: one the sandbox user can run when root."""
    system = Path("/usr/bin/python3")
    if os.geteuid() == 0 and system.exists():
        ok = subprocess.run(
            [str(system), "-c", "import sys, venv; sys.exit(sys.version_info < (3, 10))"],
            capture_output=True,
        ).returncode == 0
        if ok:
            return str(system)
    return sys.executable


def requirements() -> list[str]:
    """The `dependencies` and `dev` lists of pyproject.toml (quoted strings in those arrays)."""
    text = PYPROJECT.read_text()
    found: list[str] = []
    for header in (r"^dependencies\s*=\s*\[", r"^dev\s*=\s*\["):
        match = re.search(header + r"(.*?)^\]", text, re.S | re.M)
        if not match:
            raise SystemExit(f"dev.py: cannot find {header!r} in pyproject.toml")
        found += re.findall(r'^\s*"([^"]+)"', match.group(1), re.M)
    return found


def python_in(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv() -> Path:
    venv = venv_dir()
    reqs = requirements()
    stamp = venv / ".beras-requirements"
    digest = hashlib.sha256("\n".join(reqs).encode()).hexdigest()
    if python_in(venv).exists() and stamp.exists() and stamp.read_text() == digest:
        return python_in(venv)
    print(f"dev.py: preparing {venv} ...", file=sys.stderr, flush=True)
    if not python_in(venv).exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([base_python(), "-m", "venv", str(venv)], check=True)
    pip = [str(python_in(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(pip + reqs, check=True)
    if os.geteuid() == 0:
        # The sandbox user must read and execute everything in the environment.
        subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)
        for parent in venv.parents:
            if parent == Path("/"):
                break
            parent.chmod(parent.stat().st_mode | 0o055)
    stamp.write_text(digest)
    return python_in(venv)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    python = str(ensure_venv())
    os.chdir(ROOT)
    if command == "example":
        out = ROOT / "results.json"
        cmd = [python, "-m", "autograder", "grade", str(EXAMPLE_SUBMISSION), "--out", str(out), *rest]
    elif command == "check":
        cmd = [python, "-m", "autograder", "check", *rest]
    elif command == "test":
        cmd = [python, "-m", "pytest", *rest]
    elif command == "run":
        cmd = [python, *rest]
    else:
        print(f"dev.py: unknown command {command!r}\n{__doc__}", file=sys.stderr)
        return 2
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
