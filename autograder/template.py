"""Generate a student handout from a reference solution marked with solution regions.

A region is every line from a `# BEGIN SOLUTION: <todo>` comment to the next
`# END SOLUTION` comment, markers included. In the handout it becomes one line at the
BEGIN marker's indentation:

    raise NotImplementedError("TODO: <todo>")

or, for a region marked `# BEGIN SOLUTION (replace with: <code>): <todo>`, the line
`<code>  # TODO: <todo>` (for parts that must not raise, e.g. at import time). Everything else
is copied byte for byte. Files in the reference that hold no marker are copied unchanged.

`python -m autograder template [--check]` (autograder/commands/template.py) runs it.
"""
from __future__ import annotations

import fnmatch
import os
import re
import shutil
import tempfile
from pathlib import Path


# Never part of a handout: caches, editor and VCS files, and outputs such as predictions.
IGNORED = ("__pycache__", "*.pyc", ".*", "*.npy", "*.egg-info")
# Files whose markers are replaced; anything else is copied as bytes.
MARKED_SUFFIXES = (".py",)

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?: \(replace with: (?P<code>.+?)\))?: (?P<todo>.+?)\s*$")
END = re.compile(r"^[ \t]*# END SOLUTION\s*$")
ANY_MARKER = re.compile(r"#\s*(BEGIN|END) SOLUTION")


class TemplateError(Exception):
    """The reference's markers are malformed; the message names the file and line."""


class Region:
    """One solution region: its lines (1-based, inclusive), its TODO and its replacement line."""

    def __init__(self, begin: int, end: int, todo: str, replacement: str):
        self.begin, self.end, self.todo, self.replacement = begin, end, todo, replacement


def _stub_line(indent: str, todo: str, code: str | None) -> str:
    if code is not None:
        return f"{indent}{code}  # TODO: {todo}"
    message = ("TODO: " + todo).replace("\\", "\\\\").replace('"', '\\"')
    return f'{indent}raise NotImplementedError("{message}")'


def find_regions(text: str, name: str = "<text>") -> list[Region]:
    """The solution regions of a file's text, checked for pairing and form."""
    regions: list[Region] = []
    open_region = None
    for number, line in enumerate(text.splitlines(), start=1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if open_region:
                raise TemplateError(f"{name}:{number}: BEGIN SOLUTION inside the region opened at line {open_region[0]}")
            open_region = (number, begin)
        elif end:
            if not open_region:
                raise TemplateError(f"{name}:{number}: END SOLUTION without a BEGIN SOLUTION")
            start, match = open_region
            stub = _stub_line(match["indent"], match["todo"], match["code"])
            regions.append(Region(start, number, match["todo"], stub))
            open_region = None
        elif ANY_MARKER.search(line):
            raise TemplateError(
                f"{name}:{number}: malformed marker {line.strip()!r}; use "
                "'# BEGIN SOLUTION: <todo>', '# BEGIN SOLUTION (replace with: <code>): <todo>' or '# END SOLUTION'"
            )
    if open_region:
        raise TemplateError(f"{name}:{open_region[0]}: BEGIN SOLUTION never closed by END SOLUTION")
    return regions


def strip_solutions(text: str, name: str = "<text>") -> str:
    """The handout version of one file's text."""
    regions = find_regions(text, name)
    if not regions:
        return text
    lines = text.splitlines(keepends=True)
    newline = "\r\n" if lines[0].endswith("\r\n") else "\n"
    out: list[str] = []
    position = 0  # 0-based index of the next line to copy
    for region in regions:
        out.extend(lines[position:region.begin - 1])
        out.append(region.replacement + newline)
        position = region.end
    out.extend(lines[position:])
    return "".join(out)


def _ignored(relative: Path) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in relative.parts for pattern in IGNORED)


def render(src: Path) -> dict[str, bytes]:
    """What the handout generated from src holds: relative POSIX path -> content."""
    src = Path(src)
    if not src.is_dir():
        raise TemplateError(f"{src}: no such reference directory")
    files: dict[str, bytes] = {}
    for path in sorted(src.rglob("*")):
        relative = path.relative_to(src)
        if path.is_dir() or _ignored(relative):
            continue
        content = path.read_bytes()
        if path.suffix in MARKED_SUFFIXES:
            text = content.decode("utf-8")
            content = strip_solutions(text, str(path)).encode("utf-8")
        files[relative.as_posix()] = content
    return files


def _existing(dst: Path) -> dict[str, bytes]:
    if not dst.is_dir():
        return {}
    return {
        path.relative_to(dst).as_posix(): path.read_bytes()
        for path in sorted(dst.rglob("*"))
        if path.is_file() and not _ignored(path.relative_to(dst))
    }


def diff(src: Path, dst: Path) -> list[str]:
    """How dst differs from the handout generated from src: one line per file; [] when in sync."""
    wanted, present = render(src), _existing(Path(dst))
    problems = []
    for name in sorted(set(wanted) | set(present)):
        if name not in present:
            problems.append(f"missing: {name}")
        elif name not in wanted:
            problems.append(f"not generated from the reference: {name}")
        elif wanted[name] != present[name]:
            problems.append(f"differs: {name}")
    return problems


def _check_separate(src: Path, dst: Path) -> None:
    src, dst = Path(src).resolve(), Path(dst).resolve()
    if src == dst or src in dst.parents or dst in src.parents:
        raise TemplateError(f"the handout {dst} and the reference {src} must not contain each other")


def generate(src: Path, dst: Path) -> list[str]:
    """Write the handout generated from src into dst, replacing what dst held; returns its files.

    The new handout is built beside dst and swapped in, so dst is never half-written.
    """
    src, dst = Path(src), Path(dst)
    _check_separate(src, dst)
    files = render(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        for name, content in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            shutil.copymode(src / name, target)
        os.chmod(staging, 0o755)
        if dst.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old.", dir=dst.parent))
            os.replace(dst, retired / dst.name)
            os.replace(staging, dst)
            shutil.rmtree(retired)
        else:
            os.replace(staging, dst)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return sorted(files)
