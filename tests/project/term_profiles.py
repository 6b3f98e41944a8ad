"""Each past term's given code, as executable fixtures: the `term-*` variants of
validation/variants.yaml (the reference with that term's given code swapped in; the API
page's last section says what each handout gave).

`profiles()` names them; `materialised(name, dest)` writes one as a submission;
`imported_beras(folder)` imports its `beras` in this (trusted) process for introspection and
forgets it afterwards. The variants are our own code, never a submission.
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from autograder.validate.corpus import load_corpus, materialise

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PREFIX = "term-"
# The terms the API page describes in full; a profile for any other term is welcome, not required.
REQUIRED = ("term-fall-2024", "term-spring-2025")


def _cases():
    corpus = load_corpus(PROJECT_ROOT / "validation")
    return {case.id: case for case in corpus.of_kind("variant") if case.id.startswith(PREFIX)}


def profiles() -> list[str]:
    return sorted(_cases())


def materialised(name: str, dest: Path) -> Path:
    return materialise(_cases()[name], {"reference": PROJECT_ROOT / "reference"}, dest)


# A submission's top-level modules: importing one folder's must not leave them for the next.
SUBMISSION_MODULES = ("beras", "preprocess", "assignment", "committee")


def _forget_submission_modules():
    for module in list(sys.modules):
        if module.split(".")[0] in SUBMISSION_MODULES:
            del sys.modules[module]


@contextlib.contextmanager
def imported_beras(folder: Path):
    """The folder's `beras` package (its preprocess, assignment and committee importable
    too), imported in this trusted process and forgotten on exit, so that no other test sees
    them. Only our own code (the reference, a term profile): submissions run in subprocesses."""
    _forget_submission_modules()
    sys.path.insert(0, str(folder))
    try:
        import beras
        yield beras
    finally:
        sys.path.remove(str(folder))
        _forget_submission_modules()
