"""Reading a Gradescope "Export Submissions" download: a zip or the folder it unpacks to,
with its submission_metadata.yml (students, the score Gradescope had, the assignment), and
the deterministic slices (shards) and fingerprints that make resume and merge safe."""
from __future__ import annotations

import datetime
import hashlib
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml

from autograder.batch import natural_key
from autograder.regrade.layout import METADATA_NAME

# A submission larger than this unpacked is refused: a zip bomb in an export must not fill
# the disk of the machine doing a class-wide regrade.
MAX_SUBMISSION_BYTES = 1 << 30
_IGNORED_DIRS = {"__MACOSX"}
# Gradescope names the download (and the folder inside it) after the assignment's id.
_EXPORT_NAME = re.compile(r"assignment_(\d+)_export", re.IGNORECASE)


class ExportError(Exception):
    """The export cannot be read (bad zip, unsafe member, unreadable metadata)."""


@dataclass
class ExportedSubmission:
    id: str
    submitters: list = field(default_factory=list)  # [{"name", "sid", "email"}]
    created_at: str | None = None
    score: float | None = None  # Gradescope's score at export time
    assignment: str | None = None  # the assignment's title, when the metadata carries one
    present: bool = True  # False when the metadata lists it but the export has no folder

    def people(self, key: str) -> str:
        return "; ".join(str(s.get(key) or "") for s in self.submitters)


class _RubyTolerantLoader(yaml.SafeLoader):
    """A SafeLoader that also accepts the Ruby tags some Gradescope exports carry
    (`!ruby/object:BigDecimal 18:0.87e2`, `!ruby/hash:...`) as plain data."""


def _ruby(loader, suffix, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    value = loader.construct_scalar(node)
    if suffix.endswith("BigDecimal"):
        try:
            return float(str(value).split(":")[-1])
        except ValueError:
            return value
    return value


_RubyTolerantLoader.add_multi_constructor("!ruby/", _ruby)


def _plain(value):
    """Ruby symbol keys (':submitters') lose their colon; dates become ISO strings."""
    if isinstance(value, dict):
        return {str(k).lstrip(":") if isinstance(k, str) else str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _title(details: dict) -> str | None:
    assignment = details.get("assignment")
    title = assignment.get("title") if isinstance(assignment, dict) else None
    return str(title).strip() or None if title is not None else None


def parse_metadata(text: str) -> dict[str, ExportedSubmission]:
    """Gradescope's submission_metadata.yml -> {folder name: ExportedSubmission}."""
    try:
        raw = yaml.load(text, Loader=_RubyTolerantLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise ExportError(f"{METADATA_NAME} is not valid YAML: {error}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ExportError(f"{METADATA_NAME} should map submission folders to details")
    found = {}
    for folder, details in _plain(raw).items():
        details = details if isinstance(details, dict) else {}
        submitters = [{k: (None if person.get(k) is None else str(person.get(k))) for k in ("name", "sid", "email")}
                      for person in details.get("submitters") or [] if isinstance(person, dict)]
        found[str(folder)] = ExportedSubmission(
            id=str(folder), submitters=submitters,
            created_at=None if details.get("created_at") is None else str(details["created_at"]),
            score=_number(details.get("score")), assignment=_title(details))
    return found


def assignment_name(submissions: Iterable[ExportedSubmission], export_names: Iterable[str]) -> str | None:
    """The assignment's title from the metadata when present, else what Gradescope named the
    download after (`assignment_4242_export` -> "assignment 4242"), else None."""
    titles = sorted({s.assignment for s in submissions if s.assignment})
    if titles:
        return titles[0]
    for name in export_names:
        match = _EXPORT_NAME.search(name)
        if match:
            return f"assignment {match.group(1)}"
    return None


def _safe_parts(name: str) -> tuple[str, ...] | None:
    """The path components of a zip member, or None when it could escape the target
    (absolute, drive letter, '..'). Backslashes count as separators: Windows zips use them."""
    parts = [p for p in re.split(r"[\\/]+", name) if p not in ("", ".")]
    if not parts or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return None
    if any(p == ".." for p in parts):
        return None
    return tuple(parts)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return (info.external_attr >> 16) & 0o170000 == 0o120000


class Export:
    """A Gradescope export: a zip or a folder, with or without submission_metadata.yml.

    Submissions are listed without extracting anything; `materialise()` extracts one
    submission of a zip into a private folder, so a shard only unpacks its own slice."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, list[tuple[zipfile.ZipInfo, tuple[str, ...]]]] = {}
        self._scratch: tempfile.TemporaryDirectory | None = None
        self.warnings: list[str] = []
        if self.path.is_dir():
            metadata, folders, names = self._scan_folder()
        elif zipfile.is_zipfile(self.path):
            metadata, folders, names = self._scan_zip()
        elif self.path.exists():
            raise ExportError(f"{self.path} is neither a folder nor a zip file")
        else:
            raise ExportError(f"{self.path} does not exist")
        listed = dict(metadata)
        for folder in folders:
            listed.setdefault(folder, ExportedSubmission(id=folder))
        for sub in listed.values():
            sub.present = sub.id in folders
        self.submissions = sorted(listed.values(), key=lambda s: natural_key(s.id))
        self.assignment = assignment_name(self.submissions, names)

    def _scan_folder(self):
        root = self.path
        if not (root / METADATA_NAME).is_file():
            inner = [p for p in root.iterdir() if not p.name.startswith(".") and p.name not in _IGNORED_DIRS]
            if len(inner) == 1 and inner[0].is_dir() and (inner[0] / METADATA_NAME).is_file():
                root = inner[0]  # unzipped with its wrapping folder
        self._root = root
        metadata = {}
        if (root / METADATA_NAME).is_file():
            metadata = parse_metadata((root / METADATA_NAME).read_text(encoding="utf-8"))
        folders = {p.name for p in root.iterdir()
                   if p.is_dir() and not p.name.startswith(".") and p.name not in _IGNORED_DIRS}
        return metadata, folders, [root.resolve().name, self.path.resolve().name]

    def _scan_zip(self):
        try:
            self._zip = zipfile.ZipFile(self.path)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, OSError) as error:
            raise ExportError(f"{self.path}: {error}") from None
        safe = []
        for info in infos:
            parts = _safe_parts(info.filename)
            if parts is None:
                raise ExportError(f"{self.path}: unsafe member path {info.filename!r} (refusing the whole export)")
            if parts[0] in _IGNORED_DIRS:
                continue
            if _is_symlink(info):
                self.warnings.append(f"skipped symbolic link {info.filename!r}")
                continue
            safe.append((info, parts))
        # The metadata file marks the export's root (Gradescope may wrap it in one folder).
        # Without it, the zip's top level is the list of submissions.
        meta_hits = [parts for info, parts in safe if parts[-1] == METADATA_NAME and not info.is_dir()]
        prefix: tuple[str, ...] = min(meta_hits, key=len)[:-1] if meta_hits else ()
        # Made here, not on first use: job threads extract side by side. It stays private
        # (mkdtemp's 0700): the sandbox copies a submission before its user may read it, so
        # no slot user can read another slot's submission here.
        self._scratch = tempfile.TemporaryDirectory(prefix="beras-regrade-")
        metadata = {}
        n = len(prefix)
        for info, parts in safe:
            if parts == prefix + (METADATA_NAME,):
                metadata = parse_metadata(self._zip.read(info).decode("utf-8", "replace"))
            elif parts[:n] == prefix and len(parts) > n + 1:  # inside a submission folder
                self._members.setdefault(parts[n], []).append((info, parts[n + 1:]))
            elif info.is_dir() and parts[:n] == prefix and len(parts) == n + 1:
                self._members.setdefault(parts[n], [])  # empty submission folders still count
        return metadata, set(self._members), [*prefix[-1:], self.path.stem]

    def materialise(self, submission_id: str) -> Path:
        """The folder holding this submission's files (extracted on demand for zips)."""
        if self._zip is None:
            return self._root / submission_id
        target = Path(self._scratch.name) / submission_id
        if target.exists():
            return target
        staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=self._scratch.name))
        budget = MAX_SUBMISSION_BYTES
        for info, rel in self._members.get(submission_id, []):
            dest = staging.joinpath(*rel)
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with self._zip.open(info) as src, open(dest, "wb") as out:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    budget -= len(chunk)
                    if budget < 0:
                        shutil.rmtree(staging, ignore_errors=True)
                        raise ExportError(f"{submission_id}: larger than {MAX_SUBMISSION_BYTES} bytes unpacked")
                    out.write(chunk)
        staging.rename(target)
        return target

    def fingerprint(self, sub: ExportedSubmission) -> str | None:
        """Identifies the submission's files, so resume never reuses results for other files
        under the same id. A zip's members are identified by name, CRC and size, unextracted."""
        if not sub.present:
            return None
        if self._zip is None:
            return tree_fingerprint(self.materialise(sub.id))
        digest = hashlib.sha256()
        for info, rel in sorted(self._members.get(sub.id, []), key=lambda member: member[1]):
            if not info.is_dir():
                digest.update("/".join(rel).encode() + b"\0" + f"{info.CRC}:{info.file_size}".encode())
        return "zip:" + digest.hexdigest()

    def release(self, submission_id: str) -> None:
        """Delete an extracted submission once graded: a big export never sits unpacked whole."""
        if self._zip is not None and self._scratch is not None:
            shutil.rmtree(Path(self._scratch.name) / submission_id, ignore_errors=True)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
        if self._scratch is not None:
            self._scratch.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def is_export(path: Path) -> bool:
    """A Gradescope download rather than a regrade output: a zip, or a folder with the
    metadata file (at its top or in one wrapping folder) and no scores.csv."""
    path = Path(path)
    if path.is_file():
        return zipfile.is_zipfile(path)
    if not path.is_dir() or (path / "scores.csv").exists():
        return False
    return (path / METADATA_NAME).is_file() or any((p / METADATA_NAME).is_file() for p in path.iterdir() if p.is_dir())


def parse_shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match:
        raise ValueError(f"--shard takes K/N (for example 2/8), not {text!r}")
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 1 <= k <= n:
        raise ValueError(f"--shard {text}: K must be between 1 and N")
    return k, n


def shard_slice(items: list, k: int, n: int) -> list:
    """Round-robin over the natural order: balanced, and the same slice on every machine."""
    return [item for index, item in enumerate(items) if index % n == k - 1]


def ids_fingerprint(ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids, key=natural_key)).encode()).hexdigest()[:16]


def tree_fingerprint(root: Path) -> str:
    """A hash of a submission's files (names and bytes), so that resume never reuses
    results for different files under the same submission id."""
    digest = hashlib.sha256()
    if root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            digest.update(b"\0")
    return digest.hexdigest()
