"""Partial work keeps its points (issue 17): a block Python cannot read is set aside, by parsing
only (autograder/partial.py), and everything else in the file is graded.

The real cases are the Spring 2025 handout's unfinished lines: `return {"loss": ???, "acc": ???}`
in `evaluate`, and an `if __name__ == '__main__':` block holding only comments."""
from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from autograder import course as course_mod
from autograder import partial
from suite_support import graded, total

UNFINISHED_EVALUATE = ("beras/model.py", "        return metrics, Tensor(np.concatenate(predictions))",
                       '        return {"loss": ???, "acc": ???}')
COMMENT_ONLY_MAIN = ("assignment.py", 'if __name__ == "__main__":\n    main()\n',
                     'if __name__ == "__main__":\n    # TODO: train the model and save predictions.npy\n'
                     '    # main()\n')


def edited(source: Path, target: Path, *edits: tuple[str, str, str]) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "predictions.npy"))
    for file, old, new in edits:
        text = (target / file).read_text()
        assert text.count(old) == 1, (file, old)
        (target / file).write_text(text.replace(old, new))
    return target


def functions(path: Path) -> dict[str, str]:
    """Every function's qualified name -> its normalised syntax tree."""
    found: dict[str, str] = {}

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    found[name] = ast.dump(child)
                walk(child, name + ".")

    walk(ast.parse(path.read_text()), "")
    return found


def compiles(path: Path) -> bool:
    try:
        compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        return True
    except SyntaxError:
        return False


def test_the_handouts_unfinished_lines_cost_only_their_block(reference_dir, tmp_path):
    sub = edited(reference_dir, tmp_path / "sub", UNFINISHED_EVALUATE, COMMENT_ONLY_MAIN)
    before = {f: functions(reference_dir / f) for f in ("beras/model.py", "assignment.py")}
    assert not compiles(sub / "beras/model.py") and not compiles(sub / "assignment.py")
    lines = len((sub / "beras/model.py").read_text().splitlines())

    aside = partial.set_aside_unparseable(sub)

    by_file = {a.file: a for a in aside}
    assert set(by_file) == {"beras/model.py", "assignment.py"}
    model = by_file["beras/model.py"]
    assert (model.error_type, model.message) == ("SyntaxError", "invalid syntax")
    assert model.what == "`Model.evaluate`"
    assert (sub / "beras/model.py").read_text().splitlines()[model.line - 1].strip().startswith("raise SyntaxError")
    assert by_file["assignment.py"].error_type == "IndentationError"
    assert "__name__" in by_file["assignment.py"].what
    for file in ("beras/model.py", "assignment.py"):
        assert compiles(sub / file)
        after = functions(sub / file)
        assert set(after) == set(before[file])
        changed = {name for name in after if after[name] != before[file][name]}
        assert changed == ({"Model.evaluate"} if file == "beras/model.py" else set())
    assert len((sub / "beras/model.py").read_text().splitlines()) == lines  # line numbers kept
    text = model.markdown()
    assert "`beras/model.py` line" in text and "`Model.evaluate` was set aside" in text


def test_the_template_with_one_syntax_error_keeps_the_rest(template_dir, tmp_path):
    layers = (template_dir / "beras/layers.py").read_text()
    tree = ast.parse(layers)
    forward = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "forward")
    body_line = layers.splitlines()[forward.body[-1].lineno - 1]
    indent = body_line[: len(body_line) - len(body_line.lstrip())]
    sub = edited(template_dir, tmp_path / "sub",
                 ("beras/layers.py", body_line + "\n", f"{indent}if x:\n{indent}    y = x @ (self.w +\n"))
    aside = partial.set_aside_unparseable(sub)
    assert [a.file for a in aside] == ["beras/layers.py"]
    assert compiles(sub / "beras/layers.py")
    before, after = functions(template_dir / "beras/layers.py"), functions(sub / "beras/layers.py")
    assert set(before) == set(after)
    assert {n for n in after if after[n] != before[n]} == {f"Dense.forward"}


@pytest.mark.parametrize("source, why", [
    ("x = (1,\ny = 2\n", "module-level code runs at import: nothing to set aside"),
    ("class A:\n    x = ???\n", "a class body runs at import"),
    ("def f(:\n    return 1\n" * 1, "a def line it can rebuild? (checked below)"),
    ("(" * 200_000 + "\n", "too deeply nested for the parser"),
    ("x = 1\x00\n", "a null byte: not Python source"),
])
def test_what_cannot_be_set_aside_is_left_exactly_as_uploaded(tmp_path, source, why):
    path = tmp_path / "m.py"
    path.write_text(source)
    aside = partial.set_aside_unparseable(tmp_path)
    if source.startswith("def f(:"):
        # A broken `def` line is rebuilt to accept any arguments and raise the error.
        assert [a.what for a in aside] == ["`f`"] and compiles(path)
        return
    assert aside == [], why
    assert path.read_text() == source


def test_several_errors_in_one_file_each_cost_their_own_function(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def a():\n    return ???\n\n\ndef b():\n    return 2\n\n\n"
                    "class C:\n    def c(self):\n        for i in range(3):\n            y = [i,\n\n"
                    "    def d(self):\n        return 4\n")
    aside = partial.set_aside_unparseable(tmp_path)
    assert [a.what for a in aside] == ["`a`", "a block of `C.c` (lines 11-12)"]
    assert compiles(path)
    names = set(functions(path))
    assert names == {"a", "b", "C.c", "C.d"}
    namespace: dict = {"__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # a test file of ours
    assert namespace["b"]() == 2 and namespace["C"]().d() == 4
    with pytest.raises(SyntaxError) as raised:
        namespace["a"]()
    assert raised.value.lineno == 2 and raised.value.filename == str(path)


def test_the_setting_is_on_by_default_and_can_be_turned_off(tmp_path):
    assert course_mod.load().set_aside_syntax_errors is True
    config = tmp_path / "autograder.cfg"
    config.write_text("[autograder]\nset_aside_syntax_errors = no\n")
    assert course_mod.load(config).set_aside_syntax_errors is False


def test_a_reference_with_the_real_unfinished_lines_loses_only_evaluates_points(reference_dir, mnist_dir, tmp_path):
    sub = edited(reference_dir, tmp_path / "sub", UNFINISHED_EVALUATE, COMMENT_ONLY_MAIN)
    doc, _ = graded(sub)
    assert "set aside by the grader" not in (sub / "beras/model.py").read_text()  # the upload is untouched
    lost = {t["number"] for t in doc["tests"] if t["score"] < t["max_score"]}
    needs_evaluate = {t["number"] for t in doc["tests"] if "evaluate" in t["name"]}
    assert lost == needs_evaluate, {t["number"]: t["output"][:300] for t in doc["tests"] if t["number"] in lost}
    maximum = sum(t["max_score"] for t in doc["tests"])
    assert total(doc) == pytest.approx(maximum - sum(t["max_score"] for t in doc["tests"]
                                                     if t["number"] in needs_evaluate))
    line = (sub / "beras/model.py").read_text().splitlines().index(UNFINISHED_EVALUATE[2]) + 1
    top = doc["output"]
    assert "`Model.evaluate` was set aside, everything else is graded" in top
    assert "`assignment.py` line" in top and f"`beras/model.py` line {line}" in top
    evaluate_test = next(t for t in doc["tests"] if t["number"] in needs_evaluate)
    assert f"`SyntaxError` at `beras/model.py` line {line}" in evaluate_test["output"]


def test_the_grading_process_never_parses_student_source_itself(tmp_path, monkeypatch):
    """On Python 3.10 compiling a deeply nested expression kills the interpreter (SIGSEGV):
    the parsing runs in a child, and a file that kills it is left as uploaded while the files
    after it are still repaired. A child that aborts on a marked file stands in for the crash."""
    crashing = partial.CHILD.replace("from autograder import partial\n", "from autograder import partial\n"
                                     "import os\n_repair = partial.repair_file\n"
                                     "def _crash(path, rel):\n"
                                     "    if b'CRASH' in path.read_bytes():\n        os.abort()\n"
                                     "    return _repair(path, rel)\n"
                                     "partial.repair_file = _crash\n")
    assert crashing != partial.CHILD
    monkeypatch.setattr(partial, "CHILD", crashing)
    broken = "def f():\n    return ???\n"
    for name, text in (("a.py", broken), ("b.py", "# CRASH\n" + broken), ("c.py", broken)):
        (tmp_path / name).write_text(text)
    aside = partial.set_aside_unparseable(tmp_path)
    assert [a.file for a in aside] == ["a.py", "c.py"]
    assert compiles(tmp_path / "a.py") and compiles(tmp_path / "c.py")
    assert (tmp_path / "b.py").read_text() == "# CRASH\n" + broken
