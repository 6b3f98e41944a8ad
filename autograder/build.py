"""Build the two deliverables: autograder.zip for Gradescope and the student kit.

autograder.zip (setup.sh and run_autograder at the root, as Gradescope requires):
    setup.sh, run_autograder, dev.py, pyproject.toml, autograder.cfg, autograder/ (engine),
    the whole suite (hidden tests included), the reference, the template.
student-kit.zip (unpacks into the student's working folder):
    the template's files at the root, autograder/ (engine), the suite's public folder, its
    conftest files and the helpers these reach (a helper only hidden tests use stays out, so
    does the suite's README; a folder holding any non-public test is hidden whole), and the
    config's kit_files (`path`, or `path=name` to ship it under another name). Never the reference, never a hidden test, never a function that is
    a reference solution renamed or reformatted, never a closed form of the homework's parts
    (autograder/answers/): each fails the build, before anything is written.
    With the config's kit_recording, the kit also gets the answers the suite recorded while
    the reference was graded on the public suite ($AUTOGRADER_RECORD), so its public tests
    check values without holding any closed form.

Data (the config's [data] section; for Beras, the four MNIST files from $BERAS_MNIST_DIR) goes
into autograder.zip, so Gradescope needs no download. Without every required file the build
refuses, unless --allow-fallback-data says that grading on fallback data is intended.

Zips are deterministic (sorted entries, fixed timestamps) so a rebuild of the same tree
gives the same bytes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder import answers
from autograder.course import ENGINE_ROOT, ConfigError, Course, load as load_course
from autograder.grading import grade_command
from autograder.submission import is_clutter

FIXED_TIME = (2020, 1, 1, 0, 0, 0)
RECORD_ENV = "AUTOGRADER_RECORD"  # where the suite writes the config's kit_recording
EXECUTABLE = {"setup.sh", "run_autograder", "dev.py"}


def tree(root: Path, arc_prefix: str = "") -> list[tuple[str, Path]]:
    """Regular files below root (clutter excluded), as (archive name, path)."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(is_clutter(part) for part in rel.parts) or path.is_symlink() or not path.is_file():
            continue
        out.append((f"{arc_prefix}{rel.as_posix()}", path))
    return out


def _relative(course: Course, path: Path) -> str:
    try:
        return path.relative_to(course.root).as_posix()
    except ValueError:
        raise BuildError(f"{path} is outside the course folder {course.root}") from None


def _package_glue(course: Course, suite: Path) -> list[tuple[str, Path]]:
    """__init__.py and conftest.py of the folders between the course root and the suite, so
    the suite imports the same way inside the zip as in the repository."""
    out = []
    for folder in reversed(list(suite.parents)):
        if folder == course.root or course.root not in folder.parents:
            continue
        for name in ("__init__.py", "conftest.py"):
            if (folder / name).is_file():
                out.append((f"{_relative(course, folder)}/{name}", folder / name))
    return out


def _is_test_file(name: str) -> bool:
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def engine_files() -> list[tuple[str, Path]]:
    return tree(ENGINE_ROOT / "autograder", "autograder/")


def autograder_zip_files(course: Course) -> list[tuple[str, Path]]:
    for required in (course.suite, course.reference, course.template):
        if not required.is_dir():
            raise BuildError(f"missing {required} (named in {course.config_path})")
    files = [(name, ENGINE_ROOT / name) for name in ("setup.sh", "run_autograder", "dev.py")]
    files.append(("pyproject.toml", _first_existing("pyproject.toml", course)))
    files.append(("autograder.cfg", course.config_path))
    files += engine_files()
    files += _package_glue(course, course.suite)
    for folder in (course.suite, course.reference, course.template):
        files += tree(folder, _relative(course, folder) + "/")
    return _unique(files)


def hidden_dirs(course: Course) -> set[Path]:
    """Folders of the suite that hold non-public tests: each such test's highest ancestor
    below the suite that does not contain the public folder. They ship only to Gradescope."""
    public, found = course.public_suite, set()
    for path in course.suite.rglob("*.py"):
        if not _is_test_file(path.name) or path == public or public in path.parents:
            continue
        top = None
        for folder in path.parents:
            if folder == course.suite:
                break
            if folder != public and public not in folder.parents and folder not in public.parents:
                top = folder
        if top is not None:
            found.add(top)
    return found


def kit_zip_files(course: Course) -> list[tuple[str, Path]]:
    for required in (course.public_suite, course.template):
        if not required.is_dir():
            raise BuildError(f"missing {required} (named in {course.config_path})")
    files = tree(course.template)
    files += engine_files()
    files += _package_glue(course, course.suite)
    files += kit_suite_files(course)
    for entry in course.kit_files:
        # "path" ships under its own name; "path=name" ships the file under another name.
        source, _, name = entry.partition("=")
        name = name or source
        path = course.config_path if source == "autograder.cfg" else course.root / source
        if not path.is_file():
            raise BuildError(f"kit file {source} is missing")
        files.insert(0, (name, path))  # before the template's files: _unique keeps the first
    return _unique(files)


def kit_suite_files(course: Course) -> list[tuple[str, Path]]:
    """The public tests, the suite's conftest and __init__ files, and the helpers they reach
    (imports, or a module named in a string such as worker_side("probes"), transitively).
    A helper only hidden tests use, the suite's own README and any other file stay out:
    never a test outside the public folder, nor a folder holding one."""
    hidden = hidden_dirs(course)
    suite_prefix = _relative(course, course.suite) + "/"
    public, glue, helpers = [], [], {}
    for arc, path in tree(course.suite, suite_prefix):
        if path == course.public_suite or course.public_suite in path.parents:
            public.append((arc, path))
        elif _is_test_file(path.name) or any(h in path.parents for h in hidden):
            continue
        elif path.name in ("conftest.py", "__init__.py"):
            glue.append((arc, path))
        else:
            module = path.relative_to(course.suite).with_suffix("").as_posix()
            helpers[path] = {module.replace("/", "."), path.stem, path.name} if path.suffix == ".py" else {path.name}
    needed = answers.reachable([p for _, p in public + glue], helpers)
    return public + glue + [(suite_prefix + p.relative_to(course.suite).as_posix(), p) for p in sorted(needed)]


def _first_existing(name: str, course: Course) -> Path:
    for folder in (course.root, ENGINE_ROOT):
        if (folder / name).is_file():
            return folder / name
    raise BuildError(f"no {name} in {course.root} or {ENGINE_ROOT}")


def _unique(files: list[tuple[str, Path]]) -> list[tuple[str, Path]]:
    seen: dict[str, Path] = {}
    for arc, path in files:
        seen.setdefault(arc, path)
    return sorted(seen.items())


def write_zip(target: Path, files: list[tuple[str, Path]]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for arc, path in files:
            info = zipfile.ZipInfo(arc, FIXED_TIME)
            mode = 0o755 if Path(arc).name in EXECUTABLE else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    tmp.replace(target)


def kit_leaks(course: Course, names: list[str]) -> list[str]:
    """Archive names in the kit that must never be there: the reference, or any test that is
    not public (and whatever lies beside it in its folder)."""
    reference = _relative(course, course.reference) + "/"
    suite = _relative(course, course.suite) + "/"
    hidden = [_relative(course, h) + "/" for h in hidden_dirs(course)]
    public = _relative(course, course.public_suite) + "/"
    leaks = []
    for name in names:
        if name.startswith(reference) or any(name.startswith(h) for h in hidden):
            leaks.append(name)
        elif name.startswith(suite) and not name.startswith(public) and _is_test_file(Path(name).name):
            leaks.append(name)
    return leaks


class BuildError(Exception):
    pass


def _python_sources(files: list[tuple[str, Path]]) -> list[tuple[str, str]]:
    return [(arc, path.read_text(encoding="utf-8", errors="replace")) for arc, path in files if arc.endswith(".py")]


def kit_answers(course: Course, files: list[tuple[str, Path]]) -> list[answers.Match]:
    """Functions of the kit equivalent to a reference solution region: each fails the build."""
    return answers.equivalent_functions(answers.solution_regions(course.reference), _python_sources(files))


def kit_fingerprints(files: list[tuple[str, Path]]) -> list[answers.Fingerprint]:
    """Closed forms of the homework's parts spelled out in the kit: each fails the build."""
    return answers.fingerprints(_python_sources(files))


@dataclass
class DataPlan:
    """What autograder.zip carries of the config's [data] section, and what it lacks."""

    folder: str = ""
    source: Path | None = None
    files: list[tuple[str, Path]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if not self.folder:
            return ""
        if not self.missing:
            return f"data: {len(self.files)} files from {self.source} bundled as {self.folder}/"
        where = f"from {self.source}" if self.source else "(no data folder given)"
        have = f"{len(self.files)} files {where} bundled as {self.folder}/; " if self.files else f"{where}; "
        return (f"data: FALLBACK: {have}missing {', '.join(self.missing)}. Grading will use the course's "
                f"fallback data unless setup.sh can download the rest, and every message will say so.")


def data_plan(course: Course, data_dir: Path | None) -> DataPlan:
    if course.data is None:
        return DataPlan()
    folder, env = course.data.folder, course.data.from_env
    source = data_dir or (Path(os.environ[env]) if env and os.environ.get(env) else None)
    plan = DataPlan(folder=folder, source=source.resolve() if source else None)
    for stem in course.data.required:
        found = None
        if source is not None:
            found = next((source / name for name in (stem + ".gz", stem) if (source / name).is_file()), None)
        if found is None:
            plan.missing.append(stem)
        else:
            plan.files.append((f"{folder}/{found.name}", found))
    return plan


def record_for_kit(course: Course, workdir: Path) -> list[tuple[str, Path]]:
    """The config's kit_recording, made now from the current suite: the reference is graded
    on the public suite with $AUTOGRADER_RECORD naming a file, and the suite writes it (what
    it holds is the suite's business). The reference must pass every public test."""
    if not course.kit_recording:
        return []
    target, results = workdir / "kit-recording", workdir / "results.json"
    cmd = grade_command(course.reference, results, public_only=True, config=course.config_path)
    proc = subprocess.run(cmd, cwd=ENGINE_ROOT, env={**os.environ, RECORD_ENV: str(target)},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        tests = json.loads(results.read_text())["tests"]
    except (OSError, ValueError, KeyError):
        tests = []
    failing = [t.get("name", "?") for t in tests if t.get("status") != "passed"]
    if not tests or failing or not target.is_file():
        why = (f"public tests failed: {', '.join(failing[:5])}" if failing else
               "no test ran" if not tests else f"the suite wrote no {course.kit_recording}")
        raise BuildError(f"recording {course.kit_recording} on the reference: {why}\n"
                         + proc.stdout.decode(errors="replace")[-3000:])
    return [(course.kit_recording, target)]


def build(out_dir: Path, config: Path | None = None, warn=None, *, data_dir: Path | None = None,
          allow_fallback_data: bool = False) -> tuple[Path, Path]:
    course = load_course(config)
    grader = out_dir / "autograder.zip"
    kit = out_dir / "student-kit.zip"
    data = data_plan(course, data_dir)
    if data.missing and not allow_fallback_data:
        raise BuildError(
            f"autograder.zip would grade without its data: {', '.join(data.missing)} not found "
            f"{'in ' + str(data.source) if data.source else '(no data folder: set the variable named by [data] from_env in ' + str(course.config_path) + ', or pass --data-dir)'}. "
            f"Give a folder with every file, or build with --allow-fallback-data to grade on the "
            f"course's fallback data (announced in every result).")
    if data.folder:
        (warn or _warn)(f"build: {data.describe()}")
    kit_files = kit_zip_files(course)
    leaks = kit_leaks(course, [arc for arc, _ in kit_files])
    if leaks:
        raise BuildError("the student kit would contain " + ", ".join(leaks[:5]))
    matches = kit_answers(course, kit_files)
    if matches:
        raise BuildError("the student kit would hold reference solutions:\n  " + "\n  ".join(map(str, matches)))
    closed_forms = kit_fingerprints(kit_files)
    if closed_forms:
        raise BuildError("the student kit would hold closed forms of the homework's parts (name the value "
                         "through the suite's judge instead):\n  " + "\n  ".join(map(str, closed_forms)))
    with tempfile.TemporaryDirectory(prefix="autograder-build-") as tmp:
        recording = record_for_kit(course, Path(tmp))  # may fail: nothing written yet
        stale = {arc for arc, _ in recording}
        write_zip(grader, _unique(autograder_zip_files(course) + data.files))
        write_zip(kit, sorted([f for f in kit_files if f[0] not in stale] + recording))
    return grader, kit


def _warn(text: str) -> None:
    print(text, file=sys.stderr)


def run_build(out_dir: Path, config: Path | None, data_dir: Path | None = None,
              allow_fallback_data: bool = False) -> int:
    try:
        grader, kit = build(out_dir, config, data_dir=data_dir, allow_fallback_data=allow_fallback_data)
    except (BuildError, FileNotFoundError, ConfigError) as err:
        print(f"build: {err}", file=sys.stderr)
        return 2
    for path in (grader, kit):
        with zipfile.ZipFile(path) as zf:
            count = len(zf.namelist())
        print(f"{path}: {count} files, {path.stat().st_size // 1024} KiB")
    print("Upload autograder.zip to Gradescope; give students student-kit.zip.")
    return 0
