"""Degenerate submissions: the reference with every function the student writes returning a
value that is right in shape only (zeros, ones, the input echoed, random values, NaN).

A grader that compares the student only with the student (a property two wrong answers can
agree on, a shape check, a value checked against another of the student's values) gives such
a submission points; one anchored to the judge gives it none where the right answer differs.

Each such function is the one around a solution region (`# BEGIN SOLUTION`); a footer added
to its file wraps it: it calls the reference (so the value has the right type, shape and
nesting) and replaces every number in what it returns. A function that returns nothing
(an in-place update: an optimizer step, a setter, `fit` of an encoder) does nothing at all.
"""
from __future__ import annotations

import ast
from pathlib import Path

from autograder.template import find_regions

KINDS = ("zeros", "ones", "echo", "random", "nan")

FOOTER = '''

# ---- validation: a degenerate submission ({kind}); added by autograder/validate/degenerate.py
def _validation_degenerate(targets, kind):
    import functools
    import numpy as _np
    rng = _np.random.default_rng(20261207)

    def numbers(value, source):
        if value is None or isinstance(value, (bool, str, bytes)):
            return value
        if isinstance(value, dict):
            return {{k: numbers(v, source) for k, v in value.items()}}
        if isinstance(value, (list, tuple)):
            return type(value)(numbers(v, source) for v in value)
        try:
            arr = _np.asarray(value)
        except Exception:
            return value
        if arr.dtype.kind not in "biuf":
            return value
        if kind == "echo":
            return source if source is not None else _np.zeros_like(value)
        if kind == "zeros":
            out = _np.zeros_like(value, dtype=float) if arr.ndim else 0.0
        elif kind == "ones":
            out = _np.ones_like(value, dtype=float) if arr.ndim else 1.0
        elif kind == "nan":
            out = _np.full_like(value, _np.nan, dtype=float) if arr.ndim else float("nan")
        else:
            out = rng.random(arr.shape) if arr.ndim else float(rng.random())
            if isinstance(value, _np.ndarray) and type(value) is not _np.ndarray:
                out = out.view(type(value))
        return out

    def wrap(fn, returns):
        @functools.wraps(fn)
        def degenerate(*args, **kwargs):
            if not returns:
                return None  # an in-place update: do nothing
            result = fn(*args, **kwargs)
            source = args[1] if len(args) > 1 else (args[0] if len(args) == 1 and not hasattr(args[0], "__dict__")
                                                    else None)
            if source is None and args:
                source = (getattr(args[0], "inputs", None) or [None])[0]
            return numbers(result, source)
        return degenerate

    namespace = globals()
    for owner, name, returns in targets:
        if owner is None:
            namespace[name] = wrap(namespace[name], returns)
            continue
        cls = namespace[owner]
        attr = cls.__dict__[name]
        if isinstance(attr, property):
            setattr(cls, name, property(wrap(attr.fget, returns.get("get", True)) if attr.fget else None,
                                        wrap(attr.fset, returns.get("set", False)) if attr.fset else None))
        elif isinstance(attr, staticmethod):
            setattr(cls, name, staticmethod(wrap(attr.__func__, returns)))
        elif isinstance(attr, classmethod):
            setattr(cls, name, classmethod(wrap(attr.__func__, returns)))
        else:
            setattr(cls, name, wrap(attr, returns))


_validation_degenerate({targets!r}, {kind!r})
'''


def _returns_value(function: ast.AST) -> bool:
    return any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(function))


def targets_of(text: str, name: str = "<text>") -> list[tuple]:
    """(class or None, function name, returns) of every function holding a solution region; for
    a property, returns is {"get": bool, "set": bool}."""
    regions = find_regions(text, name)
    if not regions:
        return []
    tree = ast.parse(text)
    found: dict[tuple, object] = {}

    def visit(node, owner):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef) and owner is None:
                visit(child, child.name)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                end = getattr(child, "end_lineno", child.lineno)
                if not any(child.lineno <= r.begin <= end for r in regions):
                    continue
                kinds = {getattr(d, "attr", getattr(d, "id", "")) for d in child.decorator_list}
                key = (owner, child.name)
                if "property" in kinds or "setter" in kinds:
                    role = "set" if "setter" in kinds else "get"
                    entry = found.setdefault(key, {})
                    entry[role] = _returns_value(child) if role == "get" else False
                else:
                    found[key] = _returns_value(child)

    visit(tree, None)
    return [(owner, fn, returns) for (owner, fn), returns in found.items()]


def make_degenerate(dest: Path, kind: str) -> None:
    """Turn the reference copied at `dest` into the degenerate submission `kind`."""
    if kind not in KINDS:
        raise ValueError(f"degenerate kind {kind!r}: one of {', '.join(KINDS)}")
    for path in sorted(Path(dest).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        targets = targets_of(text, str(path))
        if targets:
            path.write_text(text + FOOTER.format(kind=kind, targets=targets), encoding="utf-8")
