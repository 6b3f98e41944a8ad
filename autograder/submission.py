"""Turn whatever a student uploaded into one clean directory of their files.

Accepted shapes: the files at the top, the files inside one wrapper folder (or several
nested ones), or a zip of either (uploaded as the submission itself, or as the only file in
it). Clutter (caches, notebooks, macOS metadata, version control, virtual environments) is
left out, symbolic links and special files are never followed or copied, zip entries
cannot escape the destination (zip-slip), and sizes are capped so a zip bomb or a copied
data set cannot fill the disk.

Nothing here imports or runs student code: the static scan reads source text with `ast`.
"""
from __future__ import annotations

import ast
import fnmatch
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable

from autograder.untrusted import code_span

CLUTTER_NAMES = {
    "__pycache__", "__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini", ".ipynb_checkpoints",
    ".git", ".hg", ".svn", ".idea", ".vscode", ".venv", "venv", ".mypy_cache",
    ".pytest_cache", ".hypothesis", ".ruff_cache", "node_modules", ".tox",
}
CLUTTER_PATTERNS = ("._*", "*.pyc", "*.pyo", "*.ipynb", "*~", ".#*")

# Names at the top of a submission that belong to the grader or the student kit, not to
# the student's answer: a student who uploads their whole kit folder must not have their
# copy of the engine or tests shadow ours in the worker.
KIT_NAMES = ("autograder", "tests", "dev.py", "pyproject.toml", "autograder.cfg", "dist", "build")


@dataclass(frozen=True)
class Caps:
    file_bytes: int = 50 * 2**20
    total_bytes: int = 200 * 2**20
    files: int = 3000
    zip_depth: int = 2


@dataclass
class Prepared:
    root: Path
    notes: list[str] = field(default_factory=list)      # what we did with the upload
    warnings: list[str] = field(default_factory=list)   # what the student should fix

    def markdown(self) -> str:
        lines = [f"- {n}" for n in self.notes] + [f"- **Warning:** {w}" for w in self.warnings]
        return "\n".join(lines)


def is_clutter(name: str) -> bool:
    return name in CLUTTER_NAMES or any(fnmatch.fnmatch(name, p) for p in CLUTTER_PATTERNS)


def meaningful_entries(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if not is_clutter(p.name))


class _Budget:
    """Counts files and bytes across one preparation, so caps hold for the whole upload."""

    def __init__(self, caps: Caps):
        self.caps, self.files, self.bytes = caps, 0, 0
        self.skipped: list[str] = []

    def admit(self, rel: str, size: int) -> bool:
        if self.files >= self.caps.files:
            self.skipped.append(f"{code_span(rel)} (more than {self.caps.files} files)")
            return False
        if size > self.caps.file_bytes:
            self.skipped.append(f"{code_span(rel)} ({size // 2**20} MB; the limit is "
                                f"{self.caps.file_bytes // 2**20} MB per file)")
            return False
        if self.bytes + size > self.caps.total_bytes:
            self.skipped.append(f"{code_span(rel)} (the upload exceeds "
                                f"{self.caps.total_bytes // 2**20} MB in total)")
            return False
        self.files += 1
        self.bytes += size
        return True


def extract_zip(archive: Path, dest: Path, budget: _Budget, notes: list[str]) -> bool:
    """Extract safely. Returns False (and says why) when the archive cannot be read."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as err:
        notes.append(f"{code_span(archive.name)} is not a readable zip file ({code_span(err)}); it was ignored.")
        return False
    refused: list[str] = []
    with zf:
        for info in zf.infolist():
            name = info.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if not parts:
                continue
            if name.startswith("/") or ".." in parts or ":" in parts[0]:
                refused.append(name)
                continue
            if any(is_clutter(p) for p in parts):
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                refused.append(name)
                continue
            target = dest.joinpath(*parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if not budget.admit("/".join(parts), info.file_size):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if not _copy_capped(zf, info, target, budget):
                budget.skipped.append(f"{code_span('/'.join(parts))} (larger than its zip header claims)")
    if refused:
        notes.append("Zip entries with unsafe paths or links were ignored: "
                     + ", ".join(code_span(r) for r in refused[:5]) + ("..." if len(refused) > 5 else ""))
    return True


def _copy_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: _Budget) -> bool:
    # The header's size is the student's claim; count the real bytes while inflating.
    limit = min(budget.caps.file_bytes, info.file_size)
    written = 0
    try:
        with zf.open(info) as src, open(target, "wb") as out:
            while True:
                chunk = src.read(1 << 16)
                if not chunk:
                    return True
                written += len(chunk)
                if written > limit:
                    break
                out.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError):
        pass
    target.unlink(missing_ok=True)
    return False


def copy_tree(src: Path, dest: Path, budget: _Budget, exclude_top: Iterable[str] = (),
              notes: list[str] | None = None) -> None:
    """Copy regular files and folders only: links could point at the grader's secrets."""
    excluded = set(exclude_top)
    links: list[str] = []
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        here = Path(dirpath)
        rel_dir = here.relative_to(src)
        keep = []
        for d in sorted(dirnames):
            path = here / d
            if is_clutter(d) or (rel_dir == Path(".") and d in excluded):
                continue
            if path.is_symlink():
                links.append(str(rel_dir / d))
                continue
            keep.append(d)
        dirnames[:] = keep
        (dest / rel_dir).mkdir(parents=True, exist_ok=True)
        for f in sorted(filenames):
            path = here / f
            rel = (rel_dir / f).as_posix()
            if is_clutter(f) or (rel_dir == Path(".") and f in excluded):
                continue
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                links.append(rel)
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            if budget.admit(rel, info.st_size):
                shutil.copyfile(path, dest / rel, follow_symlinks=False)
    if links and notes is not None:
        notes.append("Symbolic links are not graded and were ignored: "
                     + ", ".join(code_span(l) for l in links[:5]))


def _find_root(top: Path, expected: list[str]) -> tuple[Path, list[str]]:
    """The folder holding the student's files, and the wrapper folders we stepped into."""
    # Wrapper rule: step into a lone folder that is not itself a Python package.
    root, wrappers = top, []
    for _ in range(5):
        entries = meaningful_entries(root)
        if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink() \
                and not (entries[0] / "__init__.py").exists():
            root = entries[0]
            wrappers.append(root.name)
        else:
            break
    if not expected:
        return root, wrappers

    def hits(d: Path) -> int:
        return sum((d / e).is_file() for e in expected)

    # With a list of expected files (the handout), the shallowest folder holding the most
    # of them wins; this also finds files beside stray extras in a wrapper.
    best, best_hits = root, hits(root)
    frontier = [top]
    for _depth in range(4):
        nxt = []
        for d in frontier:
            h = hits(d)
            if h > best_hits:
                best, best_hits = d, h
            nxt += [p for p in meaningful_entries(d) if p.is_dir() and not p.is_symlink()]
        frontier = nxt
    if best != root:
        wrappers = list(best.relative_to(top).parts)
    return best, wrappers


def prepare(source: Path | str, dest: Path | str, *, expected: Iterable[str] = (),
            exclude_top: Iterable[str] = KIT_NAMES, caps: Caps = Caps()) -> Prepared:
    """Normalise `source` (a folder or a .zip) into the empty or new folder `dest`."""
    source, dest = Path(source), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    expected = sorted(set(expected))
    notes: list[str] = []
    budget = _Budget(caps)
    with tempfile.TemporaryDirectory(prefix="autograder-unpack-") as staging_name:
        staging = Path(staging_name)
        top = source
        for depth in range(caps.zip_depth + 1):
            if top.is_file() and top.suffix.lower() == ".zip":
                unpacked = staging / f"zip{depth}"
                unpacked.mkdir()
                zip_budget = _Budget(caps)
                if extract_zip(top, unpacked, zip_budget, notes):
                    notes.append(f"Unpacked {code_span(top.name)}.")
                budget.skipped += zip_budget.skipped
                top = unpacked
                continue
            if top.is_dir():
                entries = meaningful_entries(top)
                zips = [e for e in entries if e.is_file() and e.suffix.lower() == ".zip"]
                others = [e for e in entries if e not in zips]
                if len(zips) == 1 and not any(e.suffix == ".py" or e.is_dir() for e in others):
                    top = zips[0]
                    continue
            break
        if not top.is_dir():
            notes.append("No files were found in the submission.")
            return Prepared(dest, notes, [])
        root, wrappers = _find_root(top, expected)
        if wrappers:
            notes.append(f"Your files were inside {code_span('/'.join(wrappers) + '/')}; that folder was graded.")
        copy_tree(root, dest, budget, exclude_top=exclude_top, notes=notes)
    if budget.skipped:
        notes.append("Not graded, over the size limits: " + ", ".join(budget.skipped[:5]))
    _make_readable(dest)
    missing = [e for e in expected if not (dest / e).is_file()]
    if missing and len(missing) == len(expected) and len(expected) > 1:
        # One line, not one per file: the upload is the wrong folder, or empty.
        listed = ", ".join(code_span(e) for e in expected[:4]) + (", ..." if len(expected) > 4 else "")
        warnings = [f"Your submission has none of the handout's files ({listed}): upload the folder "
                    f"that holds them, or those files."]
    elif len(missing) > 3:
        warnings = [f"Your submission has no {', '.join(code_span(e) for e in missing)}; the tests that "
                    f"need them fail."]
    else:
        warnings = [f"Your submission has no `{e}`; the tests that need it fail." for e in missing]
    return Prepared(dest, notes, warnings)


def _make_readable(root: Path) -> None:
    # The worker may run as another user; it only ever needs to read these files.
    os.chmod(root, 0o755)
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            os.chmod(Path(dirpath) / d, 0o755)
        for f in filenames:
            os.chmod(Path(dirpath) / f, 0o644)


def scan_imports(root: Path, forbidden: Iterable[str], stand_ins: Iterable[str] = ()) -> list[str]:
    """Static warnings: forbidden or substituted imports, and files that do not parse.

    Nothing is penalised here; the worker's stand-ins decide at run time whether a forbidden
    library is actually used."""
    forbidden, stand_ins = set(forbidden), set(stand_ins)
    warnings: list[str] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        try:
            if path.is_symlink() or path.stat().st_size > 2 * 2**20:
                continue
            source = path.read_bytes()
            tree = ast.parse(source, filename=rel)
        except SyntaxError as err:
            warnings.append(f"{code_span(rel)} line {err.lineno}: Python cannot read this file "
                            f"({code_span(err.msg)}); every test that imports it fails.")
            continue
        except (OSError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in forbidden:
                    warnings.append(
                        f"{code_span(rel)} line {node.lineno} imports `{top}`, which this assignment does "
                        f"not allow. An unused import costs nothing, and the grader's stand-in passes "
                        f"what the handout's own code uses (such as its data loader); any other use of "
                        f"it fails, naming your file and line.")
                elif top in stand_ins:
                    warnings.append(
                        f"{code_span(rel)} line {node.lineno} imports `{top}`; the grader gives it a "
                        f"harmless stand-in (progress bars pass items through, plots are not drawn).")
    return warnings


def expected_files(template: Path | None) -> list[str]:
    """The handout's Python files, relative to its root: what a complete submission has."""
    if template is None or not template.is_dir():
        return []
    return sorted(p.relative_to(template).as_posix() for p in template.rglob("*.py")
                  if not any(is_clutter(part) for part in p.relative_to(template).parts))


def module_file_candidates(module: str) -> list[str]:
    """`a.b` -> the files that would provide it: `a/b.py`, `a/b/__init__.py`."""
    rel = PurePosixPath(*module.split("."))
    return [f"{rel}.py", f"{rel}/__init__.py"]
