"""The handout's given code: functions of the template that students receive finished (not a
`raise NotImplementedError` stub). A traceback whose innermost frame lies in one of them did
not break in code the student wrote, and the feedback says so. Read with `ast` only."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Any


class GivenCode:
    def __init__(self, handout: Path | None):
        self.handout = handout
        self._lines: dict[tuple[str, str], set[str]] | None = None

    def owns(self, frame: Any) -> bool:
        """Whether `frame` (file, line, function, source) is a line of a given function."""
        source = " ".join(str(getattr(frame, "source", "") or "").split())
        if not source:
            return False
        return source in self._table().get((str(frame.file), str(frame.function)), ())

    def _table(self) -> dict[tuple[str, str], set[str]]:
        if self._lines is None:
            self._lines = {}
            if self.handout is not None and self.handout.is_dir():
                for path in sorted(self.handout.rglob("*.py")):
                    self._read(path, path.relative_to(self.handout).as_posix())
        return self._lines

    def _read(self, path: Path, rel: str) -> None:
        try:
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text)
        except (OSError, ValueError, SyntaxError, RecursionError, MemoryError):
            return
        lines = text.splitlines()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _is_stub(node):
                body = lines[node.body[0].lineno - 1:node.end_lineno]
                self._lines.setdefault((rel, node.name), set()).update(
                    " ".join(l.split()) for l in body if l.strip())


def _is_stub(node: ast.AST) -> bool:
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]  # the docstring
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    exc = body[0].exc
    name = exc.func if isinstance(exc, ast.Call) else exc
    return isinstance(name, ast.Name) and name.id == "NotImplementedError"
