"""Reading the syntax of student files without risking the grading process.

`ast.parse` on hostile source is not safe in-process: 600 KB of `1+1+...` raises
RecursionError on 3.11+, MemoryError for other shapes, and on 3.10 (Gradescope's Python)
overflows the C stack and kills the interpreter with SIGSEGV. So the grading process never
parses student source itself: a child interpreter (stdlib only, its address space capped)
parses each file and sends back a small summary, one JSON line per file. A file that
crashes the child is reported as too deeply nested to parse, and the child is started
again for the files after it.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TOO_DEEP = "an expression is nested too deeply to parse"
MEMORY_MB = 1024
TIMEOUT_S = 60.0

# The child: paths on stdin (JSON), one summary per line on stdout, flushed as it goes.
CHILD = r'''
import ast, json, sys
try:
    import resource
    limit = int(sys.argv[1]) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
except (ImportError, ValueError, OSError):
    pass
for path in json.load(sys.stdin):
    try:
        with open(path, "rb") as handle:
            tree = ast.parse(handle.read())
        imports = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imports += [[a.name, node.lineno] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imports.append([node.module, node.lineno])
        out = {"imports": imports}
    except SyntaxError as err:
        out = {"syntax_error": [err.lineno, str(err.msg)]}
    except (RecursionError, MemoryError):
        out = {"too_deep": True}
    except (OSError, ValueError) as err:
        out = {"unreadable": type(err).__name__}
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
'''


def summaries(paths: list[Path]) -> dict[Path, dict]:
    """path -> {"imports": [[module, line], ...]} | {"syntax_error": [line, message]} |
    {"too_deep": True} | {"unreadable": reason}; a path missing from the result could not be
    scanned in time."""
    found: dict[Path, dict] = {}
    todo = list(paths)
    while todo:
        try:
            proc = subprocess.run([sys.executable, "-I", "-S", "-c", CHILD, str(MEMORY_MB)],
                                  input=json.dumps([str(p) for p in todo]).encode(),
                                  capture_output=True, timeout=TIMEOUT_S)
        except (subprocess.TimeoutExpired, OSError):
            return found
        lines = proc.stdout.decode("utf-8", "replace").splitlines()
        done = 0
        for line in lines:
            try:
                found[todo[done]] = json.loads(line)
            except (ValueError, IndexError):
                break
            done += 1
        if done == len(todo):
            return found
        if proc.returncode == 0:  # ended early without crashing: nothing more to learn
            return found
        found[todo[done]] = {"too_deep": True}  # this file killed the child (C stack overflow)
        todo = todo[done + 1:]
    return found
