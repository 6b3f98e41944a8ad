"""Turn whatever a student uploaded into one clean directory of their files.

Accepted shapes: the files at the top, the files inside one wrapper folder (or several
nested ones), or a zip of either (uploaded as the submission itself, or as the only file in
it). Clutter (caches, notebooks, macOS metadata, version control, virtual environments) is
left out, symbolic links and special files are never followed or copied, zip entries
cannot escape the destination (zip-slip), and sizes are capped so a zip bomb or a copied
data set cannot fill the disk.

Nothing here imports or runs student code: the static scan reads source text with `ast`, in
a child interpreter (parse_guard.py), since parsing hostile source can crash Python 3.10.
"""
from __future__ import annotations

import fnmatch
import os
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable

from autograder import parse_guard, tempfolders
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
    depth: int = 32            # folders inside folders, in a zip or on disk
    zip_entries: int = 20000   # entries of one zip, folders included


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
    try:
        return sorted(p for p in directory.iterdir() if not is_clutter(p.name))
    except OSError:  # unreadable: as good as empty (its files cannot be copied either)
        return []


class _Budget:
    """Counts files and bytes across one preparation, so caps hold for the whole upload."""

    def __init__(self, caps: Caps):
        self.caps, self.files, self.bytes = caps, 0, 0
        self.skipped: list[str] = []  # the first few files left out, and how many in all
        self.skipped_count = 0

    def skip(self, text: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < 5:
            self.skipped.append(text)

    def merge_skipped(self, other: "_Budget") -> None:
        self.skipped += other.skipped[:max(5 - len(self.skipped), 0)]
        self.skipped_count += other.skipped_count

    def admit(self, rel: str, size: int) -> bool:
        if self.files >= self.caps.files:
            self.skip(f"{code_span(rel)} (more than {self.caps.files} files)")
            return False
        if size > self.caps.file_bytes:
            self.skip(f"{code_span(rel)} ({size // 2**20} MB; the limit is "
                                f"{self.caps.file_bytes // 2**20} MB per file)")
            return False
        if self.bytes + size > self.caps.total_bytes:
            self.skip(f"{code_span(rel)} (the upload exceeds "
                                f"{self.caps.total_bytes // 2**20} MB in total)")
            return False
        self.files += 1
        self.bytes += size
        return True

    def forget(self, path: Path) -> None:
        """A file admitted earlier was removed again (a folder of the same name replaced it)."""
        try:
            size = path.lstat().st_size
        except OSError:
            return
        self.files = max(self.files - 1, 0)
        self.bytes = max(self.bytes - size, 0)


def extract_zip(archive: Path, dest: Path, budget: _Budget, notes: list[str]) -> bool:
    """Extract safely. Returns False (and says why) when the archive cannot be read.

    Whatever the entries say (names that escape, links, a file and a folder of the same
    name, names the file system refuses, more entries than any submission has), each one
    is extracted, skipped or refused with a note: a malformed upload never stops grading."""
    entries = _zip_entry_count(archive)
    if entries is not None and entries > budget.caps.zip_entries:
        notes.append(f"{code_span(archive.name)} has {entries} entries, more than the "
                     f"{budget.caps.zip_entries} a submission may have; it was ignored.")
        return False
    try:
        zf = zipfile.ZipFile(archive)
        members = zf.infolist()
    except Exception as err:  # hostile bytes: zipfile may raise almost anything
        notes.append(f"{code_span(archive.name)} is not a readable zip file ({code_span(err)}); it was ignored.")
        return False
    refused: list[str] = []
    unwritable: list[str] = []
    conflicts: list[str] = []
    with zf:
        for info in members[:budget.caps.zip_entries]:
            name = info.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if not parts:
                continue
            if name.startswith("/") or ".." in parts or ":" in parts[0] or len(parts) > budget.caps.depth:
                refused.append(name)
                continue
            if any(is_clutter(p) for p in parts):
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode) or (stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))):
                refused.append(name)
                continue
            rel = "/".join(parts)
            try:
                _extract_member(zf, info, dest, parts, info.is_dir() or stat.S_ISDIR(mode), budget, conflicts)
            except OSError as err:  # a name too long, a character the file system refuses...
                unwritable.append(f"{code_span(rel)} ({code_span(err.strerror or err)})")
    if refused:
        notes.append("Zip entries with unsafe paths or links were ignored: "
                     + ", ".join(code_span(r) for r in refused[:5]) + ("..." if len(refused) > 5 else ""))
    if conflicts:
        notes.append("The zip holds both a file and a folder named "
                     + ", ".join(code_span(c) for c in sorted(set(conflicts))[:5])
                     + "; the folder was kept.")
    if unwritable:
        notes.append("Zip entries that could not be unpacked were ignored: " + ", ".join(unwritable[:5])
                     + ("..." if len(unwritable) > 5 else ""))
    if len(members) > budget.caps.zip_entries:
        notes.append(f"Only the first {budget.caps.zip_entries} entries of {code_span(archive.name)} were read.")
    return True


def _extract_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, parts: list[str],
                    is_dir: bool, budget: _Budget, conflicts: list[str]) -> None:
    # A folder wins over a file of the same name, whichever comes first in the zip: tools
    # that store a folder as an entry without its trailing "/" are not rare.
    for depth in range(1, len(parts) + (1 if is_dir else 0)):
        ancestor = dest.joinpath(*parts[:depth])
        if ancestor.is_symlink() or (ancestor.exists() and not ancestor.is_dir()):
            conflicts.append("/".join(parts[:depth]))
            budget.forget(ancestor)
            ancestor.unlink()
    target = dest.joinpath(*parts)
    if is_dir:
        target.mkdir(parents=True, exist_ok=True)
        return
    rel = "/".join(parts)
    if target.is_dir():
        conflicts.append(rel)
        return
    if not budget.admit(rel, info.file_size):
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if not _copy_capped(zf, info, target, budget):
        budget.skip(f"{code_span(rel)} (larger than its zip header claims)")


def _zip_entry_count(archive: Path) -> int | None:
    """How many entries the zip's end record announces, read before zipfile parses (and
    keeps in memory) its whole central directory; None when the record cannot be read."""
    try:
        with open(archive, "rb") as handle:
            record = zipfile._EndRecData(handle)  # stable since Python 2; guarded all the same
    except Exception:
        return None
    if not record:
        return None
    try:
        return int(record[zipfile._ECD_ENTRIES_TOTAL])
    except (IndexError, TypeError, ValueError, AttributeError):
        return None


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
    """Copy regular files and folders only: links (hard ones too) could point at the grader's secrets, and
    devices or pipes could block or never end. Folders deeper than the cap, and anything
    the file system refuses to read or write, are left out with a note."""
    excluded = set(exclude_top)
    links: list[str] = []
    left_out: list[str] = []
    too_deep = False
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
            if len(rel_dir.parts) + 1 > budget.caps.depth:
                too_deep = True
                continue
            keep.append(d)
        dirnames[:] = keep
        try:
            (dest / rel_dir).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            left_out.append(f"{code_span(rel_dir.as_posix() + '/')} ({code_span(err.strerror or err)})")
            dirnames[:] = []
            continue
        for f in sorted(filenames):
            path = here / f
            rel = (rel_dir / f).as_posix()
            if is_clutter(f) or (rel_dir == Path(".") and f in excluded):
                continue
            try:
                info = path.lstat()
                # A hard link is a link too: its other name may be a file of the grader's.
                if stat.S_ISLNK(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_nlink > 1):
                    links.append(rel)
                    continue
                if not stat.S_ISREG(info.st_mode):
                    continue
                if budget.admit(rel, info.st_size):
                    _copy_regular(path, dest / rel, budget)
            except OSError as err:
                left_out.append(f"{code_span(rel)} ({code_span(err.strerror or err)})")
    if notes is None:
        return
    if links:
        notes.append("Links (symbolic or hard) are not graded and were ignored: "
                     + ", ".join(code_span(l) for l in links[:5]))
    if too_deep:
        notes.append(f"Folders nested more than {budget.caps.depth} deep were not graded.")
    if left_out:
        notes.append("Files that could not be read were not graded: " + ", ".join(left_out[:5])
                     + ("..." if len(left_out) > 5 else ""))


def _copy_regular(path: Path, target: Path, budget: _Budget) -> None:
    """Copy one regular file without following a link planted in its place meanwhile
    (O_NOFOLLOW), and never more bytes than the cap (a file may grow after its size was read)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as src:
        if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
            return
        with open(target, "wb") as out:
            remaining = budget.caps.file_bytes
            while remaining > 0:
                chunk = src.read(min(1 << 16, remaining))
                if not chunk:
                    break
                out.write(chunk)
                remaining -= len(chunk)


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
    staging = tempfolders.make("autograder-unpack-")  # removed by our parent if we are killed
    try:
        top = source
        for depth in range(caps.zip_depth + 1):
            if top.is_file() and top.suffix.lower() == ".zip":
                unpacked = staging / f"zip{depth}"
                unpacked.mkdir()
                zip_budget = _Budget(caps)
                if extract_zip(top, unpacked, zip_budget, notes):
                    notes.append(f"Unpacked {code_span(top.name)}.")
                budget.merge_skipped(zip_budget)
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
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if budget.skipped_count:
        more = budget.skipped_count - len(budget.skipped)
        notes.append("Not graded, over the size limits: " + ", ".join(budget.skipped)
                     + (f" and {more} more" if more else ""))
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
    library is actually used. The files are parsed in a child interpreter (parse_guard): a
    file nested too deeply for the parser must not take the grading process down with it."""
    forbidden, stand_ins = set(forbidden), set(stand_ins)
    warnings: list[str] = []
    paths = []
    for path in sorted(root.rglob("*.py")):
        try:
            if not path.is_symlink() and path.is_file() and path.stat().st_size <= 2 * 2**20:
                paths.append(path)
        except OSError:
            continue
    found = parse_guard.summaries(paths)
    for path in paths:
        rel = path.relative_to(root).as_posix()
        summary = found.get(path, {})
        if "syntax_error" in summary:
            line, message = summary["syntax_error"]
            warnings.append(f"{code_span(rel)} line {line}: Python cannot read this file "
                            f"({code_span(message)}); every test that imports it fails.")
        elif "too_deep" in summary:
            # 600 KB of `1+1+...`: Python cannot import it either; only the tests that do fail.
            warnings.append(f"{code_span(rel)}: Python cannot read this file ({parse_guard.TOO_DEEP}); "
                            f"every test that imports it fails.")
        for name, line in summary.get("imports", ()):
            top = str(name).split(".")[0]
            if top in forbidden:
                warnings.append(
                    f"{code_span(rel)} line {line} imports `{top}`, which this assignment does "
                    f"not allow. An unused import costs nothing, and the grader's stand-in passes "
                    f"what the handout's own code uses (such as its data loader); any other use of "
                    f"it fails, naming your file and line.")
            elif top in stand_ins:
                warnings.append(
                    f"{code_span(rel)} line {line} imports `{top}`; the grader gives it a "
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
