"""Which helper files the kit needs: those reached from the public tests by imports or names."""
from __future__ import annotations

import ast
from pathlib import Path

def referenced_names(source: str) -> set[str]:
    """Modules a file imports (every dotted prefix) and the strings it passes to calls: a
    helper loaded by name, e.g. worker_side("probes"), is reached through its string."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        elif isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            names.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Call):
            names.update(arg.value for arg in node.args
                         if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and len(arg.value) < 100)
    return names


def reachable(roots: list[Path], helpers: dict[Path, set[str]]) -> set[Path]:
    """Helpers reached from `roots` by imports or names, transitively. `helpers` maps each
    helper file to the names that designate it (module name, dotted path, file name)."""
    seen: set[Path] = set()
    todo = list(roots)
    done: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in done:
            continue
        done.add(path)
        names = referenced_names(path.read_text(encoding="utf-8", errors="replace")) if path.suffix == ".py" else set()
        for helper, aliases in helpers.items():
            if helper not in seen and names & aliases:
                seen.add(helper)
                todo.append(helper)
    return seen
