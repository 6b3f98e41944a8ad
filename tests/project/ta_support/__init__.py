"""Helpers for the TA-tool tests: a synthetic Gradescope export, and running the real CLI.

The export is built from the repository's own reference/ and student_template/, plus
mutants (small text edits of the reference) and hybrids (the reference with one file taken
from the handout), so its scores spread over the whole range without any hand-written
results.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder.validate.corpus import load_corpus, materialise

REPO = Path(__file__).resolve().parents[3]
REFERENCE = REPO / "reference"
TEMPLATE = REPO / "student_template"
METADATA_NAME = "submission_metadata.yml"

# Mutants of the validation corpus (validation/mutants/*.yaml, the one place they are written),
# chosen by id: each is a bug a student could plausibly write, in a file that one of the
# SUBSET_TESTS below exercises.
MUTANT_IDS = ["dense-forward-no-bias", "sigmoid-gradient-from-input", "mse-gradient-missing-two",
              "leaky-forward-alpha-not-scaled", "sgd-sign", "adam-no-bias-correction"]
BASES = {"reference": REFERENCE, "template": TEMPLATE}


@functools.cache
def mutants() -> dict:
    """The chosen mutants, id -> validate's Case, as the corpus writes them."""
    cases = {case.id: case for case in load_corpus(REPO / "validation").of_kind("mutant")}
    missing = [name for name in MUTANT_IDS if name not in cases]
    assert not missing, f"no mutant {missing} in validation/mutants; update MUTANT_IDS"
    return {name: cases[name] for name in MUTANT_IDS}


PEOPLE = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Emmy Noether", "Katherine Johnson", "John von Neumann",
          "Sophie Germain", "Carl Gauss", "Hedy Lamarr", "Claude Shannon", "Mary Somerville", "Kurt Goedel"]


@dataclass
class Planned:
    id: str
    kind: str  # "reference", "template", "mutant", "hybrid"
    detail: str
    submitters: list


def python_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def copy_submission(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


# Exercised only by the hidden end-to-end training test, which the CI subset leaves out.
NOT_HYBRIDISED = {"assignment.py", "preprocess.py"}


def hybrid_files() -> list[str]:
    """Reference files whose handout version differs (the ones students write)."""
    return [f for f in python_files(REFERENCE) if f not in NOT_HYBRIDISED
            and (TEMPLATE / f).exists() and (TEMPLATE / f).read_text() != (REFERENCE / f).read_text()]


def plan(count: int = 30) -> list[Planned]:
    kinds: list[tuple[str, str]] = [("reference", "plain"), ("reference", "clutter"), ("reference", "nested"),
                                    ("reference", "group"), ("template", "plain"), ("template", "clutter")]
    kinds += [("mutant", name) for name in MUTANT_IDS]
    hybrids = hybrid_files()
    kinds += [("hybrid", f) for f in hybrids]
    index = 0
    while len(kinds) < count:  # pairs of handout files, then more plain references
        pair = hybrids[index % len(hybrids)], hybrids[(index + 3) % len(hybrids)]
        kinds.append(("hybrid", "+".join(sorted(set(pair)))))
        index += 1
    kinds = kinds[:count]
    planned = []
    for number, (kind, detail) in enumerate(kinds):
        sub_id = f"submission_{100000 + 7 * number}"
        people = [PEOPLE[number % len(PEOPLE)]]
        if detail == "group":
            people.append(PEOPLE[(number + 5) % len(PEOPLE)])
        submitters = [{"name": f"{p} {number}", "sid": str(1000 + number * 10 + i),
                       "email": f"{p.split()[0].lower()}.{number}@example.edu"} for i, p in enumerate(people)]
        planned.append(Planned(sub_id, kind, detail, submitters))
    return planned


def metadata_yaml(planned: list[Planned]) -> str:
    """submission_metadata.yml exactly as Gradescope writes it (Ruby symbol keys)."""
    lines = []
    for number, sub in enumerate(planned):
        # The score Gradescope had depends on the submission alone: a picked subset of the
        # export carries the same exported_score for it as the whole export.
        place = (int(sub.id.rsplit("_", 1)[1]) - 100000) // 7
        lines.append(f"{sub.id}:")
        lines.append("  :submitters:")
        for person in sub.submitters:
            lines += [f"  - :name: {person['name']}", f"    :sid: '{person['sid']}'", f"    :email: {person['email']}"]
        lines.append(f"  :created_at: 2026-10-{1 + number % 28:02d} 12:{number % 60:02d}:00.000000000 -04:00")
        lines.append(f"  :score: {float(place % 10) * 10}")
    return "\n".join(lines) + "\n"


def build_submission(sub: Planned, target: Path) -> None:
    if sub.kind == "mutant":
        # validate's own materialise: an edit that no longer applies exactly once is an error.
        materialise(mutants()[sub.detail], BASES, target)
    elif sub.kind == "template":
        copy_submission(TEMPLATE, target)
    else:
        copy_submission(REFERENCE, target)
    if sub.kind == "hybrid":
        for file in sub.detail.split("+"):
            shutil.copy2(TEMPLATE / file, target / file)
    if sub.detail == "clutter":  # what real uploads carry along
        (target / "__pycache__").mkdir()
        (target / "__pycache__" / "assignment.cpython-310.pyc").write_bytes(b"\x00not really bytecode")
        (target / "notebook.ipynb").write_text('{"cells": []}\n')
        (target / "README.md").write_text("my homework\n")
    elif sub.detail == "nested":  # zipped with its folder
        inner = target / "hw2-beras"
        inner.mkdir()
        for item in list(target.iterdir()):
            if item != inner:
                item.rename(inner / item.name)


def build_export(root: Path, count: int = 30, as_zip: bool = True,
                 pick: list[int] | None = None) -> tuple[Path, list[Planned]]:
    """A Gradescope export of `count` submissions (or the `pick`ed ones of them) under root;
    returns (zip or folder, plan)."""
    planned = plan(count)
    if pick is not None:
        planned = [planned[i] for i in pick]
    folder = root / "assignment_4242_export"
    folder.mkdir(parents=True)
    for sub in planned:
        build_submission(sub, folder / sub.id)
    (folder / METADATA_NAME).write_text(metadata_yaml(planned))
    if not as_zip:
        return folder, planned
    archive = root / "submissions.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        for path in sorted(folder.rglob("*")):
            handle.write(path, path.relative_to(root).as_posix())  # Gradescope wraps in one folder
    shutil.rmtree(folder)
    return archive, planned


def cli(*args, check: bool = False, timeout: float = 1200, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m autograder ARGS` in a child process, from the repository root."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"autograder {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}")
    return proc


# --------------------------------------------------------------------------- headless Chromium


NEEDS_CHROMIUM = "needs Chromium: apt-get install chromium, as .ci/run does"  # counted by conftest.py


def chromium_binary() -> str:
    """The browser; without one the test skips (after its HTML checks) with a counted reason."""
    import pytest

    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(NEEDS_CHROMIUM)


def screenshot(page: Path, png: Path, width: int = 1100, height: int = 3000) -> Path:
    """Render a local HTML file in a real headless Chromium and save what it shows."""
    import tempfile

    # Chromium puts a Unix socket below its profile and TMPDIR, and a socket path has at most
    # 107 bytes: a test run's nested temporary folders (a fresh clone's, say) are longer.
    with tempfile.TemporaryDirectory(prefix="chromium-", dir="/tmp") as profile:
        proc = subprocess.run(
            [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--hide-scrollbars", f"--window-size={width},{height}", f"--screenshot={png}", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=180, env={**os.environ, "TMPDIR": profile})
    assert png.exists() and png.stat().st_size > 0, f"Chromium wrote no screenshot:\n{proc.stderr[-3000:]}"
    return png


def colour_mask(png: Path, hex_colour: str, tolerance: float = 0.06):
    """Boolean (height, width) array: pixels within `tolerance` of the colour on every channel."""
    import matplotlib.image
    import numpy as np

    pixels = matplotlib.image.imread(str(png))[..., :3]
    target = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.all(np.abs(pixels - target) <= tolerance, axis=-1)


# --------------------------------------------------------------------------- one graded class


# What the CI-facing regrade tests pass to `regrade`. The properties they check (isolation
# between submissions, determinism across job counts, shard/merge, resume, the students'
# names) are about the regrade machinery and hold for any suite, so CI grades with one
# public test per student file: ~6 s a submission instead of ~20 s for the whole suite
# (60 gradings in the shared fixture). Each mutant and hybrid below breaks a file that one
# of these tests exercises.
SUBSET_TESTS = (
    "test_tensor_and_variable_construction", "test_dense_forward", "test_leaky_relu_forward",
    "test_sigmoid_gradients", "test_mse_gradient", "test_categorical_accuracy", "test_one_hot_round_trip",
    "test_basic_optimizer_sequence", "test_adam_sequence", "test_tape_returns_one_gradient_per_source_in_order",
    "test_batch_step_returns_and_updates", "test_committee_averages_its_members",
)
# -k matches substrings: test_mse_gradient would also pick test_mse_gradient_wrt_y_true.
GRADING_ARGS: tuple = ("--public-only", "--pytest-arg=-k",
                       "--pytest-arg=(" + " or ".join(SUBSET_TESTS) + ") and not wrt_y_true")

_graded_class = None

# The small export: reference (plain, group), handout, two mutants, three hybrids.
SMALL_PICK = [0, 3, 4, 6, 9, 12, 20, 25]


@dataclass
class GradedClass:
    root: Path
    export: Path  # the 30-submission zip
    planned: list
    single: Path  # the 30 graded in one run, --jobs 2
    single_proc: subprocess.CompletedProcess
    small_export: Path  # 8 of them, as an unpacked folder
    small_planned: list
    small_single: Path  # the 8 in one run, --jobs 2
    small_shards: list  # the 8 as two --shard K/2 runs, --jobs 1 each, side by side like two machines
    small_merged: Path
    procs: dict


def cli_popen(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "autograder", *map(str, args)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=1800)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def graded_class() -> GradedClass:
    """The exports graded by the real engine, once per test process (46 gradings: the
    expensive part of these tests, shared by test_regrade_engine and test_report)."""
    global _graded_class
    if _graded_class is None:
        import atexit
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="beras-ta-class-"))
        atexit.register(shutil.rmtree, root, True)
        export, planned = build_export(root / "export", 30)
        small_export, small_planned = build_export(root / "small-export", 30, as_zip=False, pick=SMALL_PICK)
        procs = {"single": cli("regrade", export, "--out", root / "single", "--jobs", 2, *GRADING_ARGS, timeout=1800),
                 "small_single": cli("regrade", small_export, "--out", root / "small-single", "--jobs", 2,
                                     *GRADING_ARGS)}
        shards = [root / f"small-shard-{k}" for k in (1, 2)]
        running = [cli_popen("regrade", small_export, "--out", shards[k - 1], "--jobs", 1, "--shard", f"{k}/2",
                             *GRADING_ARGS) for k in (1, 2)]
        procs["small_shards"] = [_finish(p) for p in running]
        procs["merge"] = cli("merge", *shards, "--out", root / "small-merged")
        _graded_class = GradedClass(root, export, planned, root / "single", procs["single"], small_export,
                                    small_planned, root / "small-single", shards, root / "small-merged", procs)
    return _graded_class
