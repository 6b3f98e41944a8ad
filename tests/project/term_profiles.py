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


def _forget_beras():
    for module in list(sys.modules):
        if module == "beras" or module.startswith("beras."):
            del sys.modules[module]


@contextlib.contextmanager
def imported_beras(folder: Path):
    """The folder's `beras` package, imported here and forgotten on exit."""
    _forget_beras()
    sys.path.insert(0, str(folder))
    try:
        import beras
        yield beras
    finally:
        sys.path.remove(str(folder))
        _forget_beras()
