"""Plain words for every message a student can see (issue 20 #7): the engine's internal terms
(autograder/internal_terms.py) never reach results.json, a value the grader cannot check is
described as what it is, and a traceback that ends in the handout's given code says so."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from autograder.given_code import GivenCode
from autograder.internal_terms import internal_terms_in
from autograder.sandbox.grader.errors import StudentFrame
from autograder.validate.corpus import load_corpus, materialise
from suite_support import graded

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Mutants of validation/ whose feedback goes through the engine's own messages: a wrong type
# returned, a missing return (None), a crash inside the given code.
MUTANTS = ("dense-input-gradient-not-a-list", "batch-step-forgets-return")


def returns_the_exception_class(reference_dir: Path, target: Path) -> Path:
    """`return NotImplementedError` where a value was due (a real student's slip)."""
    shutil.copytree(reference_dir, target, ignore=shutil.ignore_patterns("__pycache__"))
    path = target / "beras/onehot.py"
    text = path.read_text()
    start = text.index("# BEGIN SOLUTION", text.index("def inverse"))
    end = text.index("# END SOLUTION", start)
    path.write_text(text[:start] + "return NotImplementedError\n        " + text[end:])
    return target


def student_texts(doc: dict) -> list[tuple[str, str]]:
    return [("top", doc["output"])] + [(f"{t.get('number')} {t['name']}", t["output"]) for t in doc["tests"]]


@pytest.fixture(scope="module")
def gradings(reference_dir, template_dir, tmp_path_factory):
    top = tmp_path_factory.mktemp("plain-words")
    corpus = load_corpus(PROJECT_ROOT / "validation")
    cases = {c.id: c for c in corpus.cases}
    bases = {"reference": reference_dir, "template": template_dir}
    subs = {"reference": reference_dir, "template": template_dir,
            "return NotImplementedError": returns_the_exception_class(reference_dir, top / "ni")}
    for name in MUTANTS:
        subs[name] = materialise(cases[name], bases, top / name)
    return {name: graded(path, public_only=name != "reference")[0] for name, path in subs.items()}


def test_no_internal_term_reaches_what_students_read(gradings):
    found = {f"{name} / {where}": internal_terms_in(text)
             for name, doc in gradings.items() for where, text in student_texts(doc) if internal_terms_in(text)}
    assert not found, found


def test_a_returned_exception_class_is_named_in_plain_words(gradings):
    doc = gradings["return NotImplementedError"]
    [failed] = [t for t in doc["tests"] if t["score"] < t["max_score"]]
    text = failed["output"]
    assert "the exception class NotImplementedError itself, returned instead of raised" in text, text
    assert "object of type type" not in text


def test_a_traceback_ending_in_the_handouts_given_code_says_so(template_dir):
    given = GivenCode(template_dir)
    core = (template_dir / "beras/core.py").read_text().splitlines()
    call = next(l.strip() for l in core if "self.forward(*args, **kwargs)" in l)
    assert given.owns(StudentFrame("beras/core.py", 44, "__call__", call))
    # A stub the student fills in is theirs, and so is any line not in the handout.
    layers = (template_dir / "beras/layers.py").read_text().splitlines()
    stub = next(l.strip() for l in layers if "raise NotImplementedError" in l)
    assert not given.owns(StudentFrame("beras/layers.py", 1, "forward", stub))
    assert not given.owns(StudentFrame("beras/core.py", 44, "__call__", "return x @ w"))
