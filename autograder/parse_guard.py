"""Reading the syntax of student files without risking the grading process.

`ast.parse` on hostile source is not safe in-process: 600 KB of `1+1+...` raises
RecursionError on 3.11+, MemoryError for other shapes, and on 3.10 (Gradescope's Python)
overflows the C stack and kills the interpreter with SIGSEGV. So the grading process never
parses student source itself: a child interpreter (stdlib only, its address space capped)
parses each file and sends back a small summary, one JSON line per file. A file that
crashes the child is reported as too deeply nested to parse, and the child is started
again for the files after it. `per_item_in_child` is that capped, restarting child for
any script that works file by file (partial.py's repairs use it too).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TOO_DEEP = "an expression is nested too deeply to parse"
MEMORY_MB = 1024
TIMEOUT_S = 60.0

# Every child first caps its own address space (sys.argv[1], in MB) where the system can.
CAP = r'''
import sys
try:
    import resource
    _limit = int(sys.argv[1]) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (_limit, _limit))
except (ImportError, ValueError, OSError):
    pass
'''

# The summaries' child: paths on stdin (JSON), one summary per line on stdout, flushed as it goes.
CHILD = r'''
import ast, json, sys
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

KILLED = None  # what per_item_in_child gives for the item that killed the child


def per_item_in_child(script: str, items: list[str], args=()) -> dict[str, object]:
    """Run `script` in a child interpreter (stdlib only, no site, its address space capped),
    handing it `items` as a JSON list on stdin; it answers one JSON line per item, in order,
    flushed as it goes. Returns item -> its answer; KILLED for an item during which the child
    died (on 3.10 a C stack overflow in the parser kills it: no `except` catches that), and
    the child is started again for the items after it. An item missing from the result could
    not be done in time (or the child stopped early without crashing: nothing more to learn).
    `script` reads its own arguments, `args`, from sys.argv[2:]."""
    found: dict[str, object] = {}
    todo = list(items)
    while todo:
        try:
            proc = subprocess.run([sys.executable, "-I", "-S", "-c", CAP + script, str(MEMORY_MB), *map(str, args)],
                                  input=json.dumps(todo).encode(), capture_output=True, timeout=TIMEOUT_S)
        except (subprocess.TimeoutExpired, OSError):
            return found
        done = 0
        for line in proc.stdout.decode("utf-8", "replace").splitlines()[:len(todo)]:
            try:
                found[todo[done]] = json.loads(line)
            except ValueError:
                break
            done += 1
        if done == len(todo) or proc.returncode == 0:
            return found
        found[todo[done]] = KILLED
        todo = todo[done + 1:]
    return found


def summaries(paths: list[Path]) -> dict[Path, dict]:
    """path -> {"imports": [[module, line], ...]} | {"syntax_error": [line, message]} |
    {"too_deep": True} | {"unreadable": reason}; a path missing from the result could not be
    scanned in time. A file that crashes the child is too deeply nested to parse."""
    answers = per_item_in_child(CHILD, [str(p) for p in paths])
    return {p: {"too_deep": True} if answers[str(p)] is KILLED else answers[str(p)]
            for p in paths if str(p) in answers}
