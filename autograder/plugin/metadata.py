"""What a test says about itself, read without running it: its points, number, name, tags and
visibility (the attributes gradescope-utils' decorators set, through any wrappers), the points a
test file declares in its source, and the per-test state the plugin gathers while it runs."""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

UNSET = object()


@dataclass
class TestState:
    reports: dict[str, Any] = field(default_factory=dict)
    excinfo: dict[str, Any] = field(default_factory=dict)
    score: Any = UNSET
    leaderboard_value: Any = UNSET
    notes: list[str] = field(default_factory=list)  # the test's own words, shown whatever its outcome
    student_output: str = ""
    deadline: float = math.inf
    over_budget: bool = False  # not run: the whole run's time budget was used up


STATE = pytest.StashKey[TestState]()


def state_of(item: pytest.Item) -> TestState:
    if STATE not in item.stash:
        item.stash[STATE] = TestState()
    return item.stash[STATE]


# ---------------------------------------------------------------- metadata through wrappers


def function_chain(obj: Any) -> list[Any]:
    """The test function and everything it wraps, outermost first: functools.wraps'
    `__wrapped__` (gradescope-utils' partial_credit/leaderboard) and Hypothesis' inner test
    (whichever order the decorators were stacked in)."""
    chain, seen, todo = [], set(), [obj]
    while todo:
        fn = todo.pop(0)
        fn = getattr(fn, "__func__", fn)  # bound methods: the attributes live on the function
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        chain.append(fn)
        todo.append(getattr(fn, "__wrapped__", None))
        todo.append(getattr(getattr(fn, "hypothesis", None), "inner_test", None))
    return chain


def meta(item: pytest.Item, name: str, default: Any = None) -> Any:
    for fn in function_chain(getattr(item, "obj", None)):
        value = getattr(fn, name, UNSET)
        if value is not UNSET:
            return value
    return default


def reset_wrapper_values(item: pytest.Item) -> None:
    # The wrapper function is shared by every parametrisation and every run: clear what a
    # previous test set so it cannot leak into this one.
    for fn in function_chain(getattr(item, "obj", None)):
        d = getattr(fn, "__dict__", {})
        d.pop("__score__", None)
        d.pop("__leaderboard_value__", None)


def read_wrapper_values(item: pytest.Item, state: TestState) -> None:
    for fn in function_chain(getattr(item, "obj", None)):
        d = getattr(fn, "__dict__", {})
        if "__score__" in d and state.score is UNSET:
            state.score = d["__score__"]
        if "__leaderboard_value__" in d and state.leaderboard_value is UNSET:
            state.leaderboard_value = d["__leaderboard_value__"]


def number(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return 0.0
    return x if math.isfinite(x) else 0.0


def test_name(item: pytest.Item) -> str:
    doc = meta(item, "__doc__") or ""
    first = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    base = first or getattr(item, "originalname", None) or item.name
    callspec = getattr(item, "callspec", None)
    return f"{base} [{callspec.id}]" if callspec is not None else base


def declared_points(path: Path) -> float:
    """Points declared in a test file's source, read without importing it."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return 0.0
    total = 0.0
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and n.name.startswith("test")]
    for fn in functions:
        points, cases = 0.0, 1
        for deco in fn.decorator_list:
            if not isinstance(deco, ast.Call):
                continue
            name = deco.func.attr if isinstance(deco.func, ast.Attribute) else getattr(deco.func, "id", "")
            if name in ("weight", "partial_credit") and deco.args:
                try:
                    points = float(ast.literal_eval(deco.args[0]))
                except (ValueError, TypeError, SyntaxError):
                    pass
            elif name == "parametrize" and len(deco.args) >= 2 and isinstance(deco.args[1], (ast.List, ast.Tuple)):
                cases *= len(deco.args[1].elts)
        total += points * cases
    return total
