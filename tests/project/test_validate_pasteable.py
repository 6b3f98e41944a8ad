"""No hint hands over a line of the solution (validate's check, autograder/validate/pasteable.py).

A hint guides: it may name the mistake and the idea, never hold code a student could paste.
validate compares every hint it sees with the reference's solution regions; here the check is
proved to fire on planted hints and to leave guiding ones alone, and every hint text written
in the suite is checked the same way (no grading here).
"""
import ast
from pathlib import Path

import pytest

from autograder.validate.pasteable import hints_in, pasted_lines, pasteable_hints, solution_expressions
from suite_support import GRADED_SUITE

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def solutions(reference_dir):
    return solution_expressions(reference_dir)


def doc_with_hint(hint):
    return {"tests": [{"name": "t", "number": "4.5", "score": 0, "max_score": 1,
                       "output": f"**Property.** P.\n\nWorst difference: ...\n\n**Hint:** {hint}\n\n*note*"}]}


@pytest.mark.parametrize("hint", [
    "np.log(0) is -inf: clip y_pred with np.clip(y_pred, eps, 1 - eps) first.",
    "place the resized box at column (28 - width) // 2.",
    "broadcasting y[:, :, None] * np.eye(n) gives the diagonals.",
    "your std looks like sqrt(2/m); \"xavier\" needs sqrt(2/(m+r)).",
    "write `probabilities = numpy.clip(p, e, 1.0 - e)` first",  # renamed, reformatted, another module alias
])
def test_a_planted_pasteable_hint_is_a_violation(solutions, hint):
    problems = pasteable_hints({"mutant m": doc_with_hint(hint)}, solutions)
    assert len(problems) == 1 and problems[0].startswith("mutant m: the hint of 4.5 holds a line of the solution")


@pytest.mark.parametrize("hint", [
    "np.log(0) is -inf: keep the probabilities inside [eps, 1 - eps] before the log.",
    "epsilon goes outside the square root: sqrt(v) + epsilon, not sqrt(v + epsilon).",
    "your result is N = 3 (the batch size) times too large: a sum where the mean is needed.",
    "look each source up by `id(source)` in what the walk collected.",
])
def test_a_hint_that_guides_is_not_a_violation(solutions, hint):
    assert pasteable_hints({"mutant m": doc_with_hint(hint)}, solutions) == []


def test_a_hint_naming_another_test_by_its_title_is_not_a_violation(solutions):
    doc = doc_with_hint("fix them first: 2.1 (Dense forward x @ w + b).")
    doc["tests"].append({"name": "Dense forward x @ w + b", "number": "2.1", "score": 0, "max_score": 3,
                         "output": "**Property.** P."})
    assert pasteable_hints({"mutant m": doc}, solutions) == []
    assert pasteable_hints({"mutant m": doc_with_hint("fix it: x @ w + b.")}, solutions)


def test_hints_are_read_from_the_failure_markdown():
    assert hints_in("**Property.** P.\n\n**Hint:** one\ntwo\n\nrest") == ["one\ntwo"]
    assert hints_in("no hint here") == []


def _text(node):
    """A hint's text from the suite's source, an f-string's fields as a name."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return None if left is None or right is None else left + right
    return None


def test_no_hint_written_in_the_suite_holds_a_solution_line(solutions):
    """Every `Hint(mistake, text)` of the graded suite, and every string a hint is built from
    (tuples of descriptions such as the initializers' standard deviations), against the
    solution. What validate sees in outputs is checked there too."""
    found = []
    for path in sorted(GRADED_SUITE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            texts = []
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Hint" and len(node.args) >= 2:
                texts.append(_text(node.args[1]))
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "").isupper() for t in node.targets) \
                    and isinstance(node.value, (ast.Tuple, ast.List)):
                texts += [_text(e) for e in node.value.elts]
            for text in filter(None, texts):
                hits = pasted_lines(text, solutions)
                if hits:
                    found.append(f"{path.relative_to(GRADED_SUITE)}:{node.lineno}: {text!r} holds {hits}")
    assert not found, "\n".join(found)
