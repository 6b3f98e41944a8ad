"""Partial work keeps its points: a file Python cannot read loses only the block that breaks it.

An unfinished line (`return {"loss": ???, "acc": ???}`, an `if __name__ == '__main__':` block
holding only comments) makes its whole module fail to import, and through a package's
`__init__.py` every test. Before any worker runs, the trusted side compiles each file of
the prepared copy (compile() parses and checks; it never executes anything). For a file that
does not compile, the smallest enclosing function or block around the error is replaced by
a stub that raises the original error (its type, message, the student's file and line), so
every other function is graded. Line numbers are kept: the stub takes the block's first
line (or the error's own), blank lines the rest.

Only blocks that do not run at import are set aside: a function's body (or a block inside
one), or an `if __name__ == ...:` block. An error in module-level code, a class body or a
`def` line we cannot rebuild leaves the file as it was: it fails to import, and the worker
sets the module aside then (sandbox/inside/partial_import.py: only the tests that need it fail).
A pathological file (RecursionError, MemoryError in the parser, a crash of the parsing child,
too large) is left as is. The grading process itself never parses student source: a child
interpreter does (see set_aside_unparseable).
"""
from __future__ import annotations

import ast
import dataclasses
import json
import re
import sys
import tokenize
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from autograder import parse_guard
from autograder.untrusted import code_span

MAX_BYTES = 2 * 2**20
MAX_REPAIRS = 20  # errors set aside per file; more means the file is not unfinished but broken

HEADER = re.compile(r"^[ \t]*(?P<kw>async[ \t]+def|def|class|if|elif|else|for|async[ \t]+for|while|try|"
                    r"except\*?|finally|with|async[ \t]+with|match|case)\b")
DEF_NAME = re.compile(r"^[ \t]*(?:async[ \t]+)?def[ \t]+(?P<name>\w+)")
MAIN_GUARD = re.compile(r"^[ \t]*if[ \t(]+__name__\b")
AFTER_LINE = re.compile(r"after '[^']+' statement on line (\d+)")


@dataclass(frozen=True)
class SetAside:
    """One block replaced by a stub: where Python stopped, and what no longer runs."""

    file: str          # relative to the submission, posix
    line: int
    error_type: str    # SyntaxError, IndentationError or TabError
    message: str
    what: str          # "`Model.evaluate`", "a block of `f` (lines 3-5)", ...

    def markdown(self) -> str:
        return (f"{code_span(self.file)} line {self.line}: {code_span(self.error_type)} "
                f"{code_span(self.message)}; {self.what} was set aside, everything else is graded. "
                f"Fix that line so that Python can read the file; until then the tests that need "
                f"it fail with this error.")


@dataclass(frozen=True)
class _Block:
    header: int        # 0-based index of the header's first line
    header_end: int    # 0-based index of the line that ends with ':'
    end: int           # 0-based index one past the block's last line
    indent: int
    keyword: str


def set_aside_unparseable(root: Path) -> list[SetAside]:
    """Stub out what breaks each .py file under `root` (in place); returns what was set aside.

    The parsing runs in a child interpreter (as autograder/parse_guard.py's scan does): on
    Python 3.10, compiling a deeply nested expression overflows the C stack and kills the
    interpreter, which no `except` can catch. A file that kills the child is left as
    uploaded, and the child starts again for the files after it."""
    paths = []
    for path in sorted(root.rglob("*.py")):
        try:
            if not path.is_symlink() and path.is_file() and path.stat().st_size <= MAX_BYTES:
                paths.append(path.relative_to(root).as_posix())
        except OSError:
            continue
    found: list[SetAside] = []
    answers = parse_guard.per_item_in_child(CHILD, paths, (ENGINE_ROOT, root))
    for rel in paths:  # a file that killed the child (KILLED) or was not reached: as uploaded
        try:
            found += [SetAside(**item) for item in answers.get(rel) or ()]
        except TypeError:
            continue
    return found


def _child_main(root: Path) -> None:
    """In the child: each file's repairs, one JSON list per line, in the order given."""
    for rel in json.load(sys.stdin):
        try:
            done = repair_file(root / rel, rel)
        except (OSError, ValueError, RecursionError, MemoryError):
            done = []  # unreadable or pathological: left exactly as uploaded
        sys.stdout.write(json.dumps([dataclasses.asdict(a) for a in done]) + "\n")
        sys.stdout.flush()


ENGINE_ROOT = Path(__file__).resolve().parent.parent
CHILD = r"""
import sys
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from autograder import partial
partial._child_main(Path(sys.argv[3]))
"""


def repair_file(path: Path, rel: str) -> list[SetAside]:
    raw = path.read_bytes()
    error = _compile_error(raw, rel)
    if error is None:
        return []
    try:
        encoding, _ = tokenize.detect_encoding(BytesIO(raw).readline)
        text = raw.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError):
        return []
    if encoding == "utf-8-sig":
        encoding = "utf-8"  # the BOM is dropped by decode; utf-8 without it reads the same
    original = lines = text.splitlines(keepends=True)
    done: list[tuple[_Block, SyntaxError]] = []
    for _ in range(MAX_REPAIRS):
        repaired = _repair_one(lines, error, rel)
        if repaired is None:
            return []  # one error we cannot set aside: the file stays as uploaded
        lines, block = repaired
        done.append((block, error))
        try:
            source = "".join(lines).encode(encoding)
        except UnicodeEncodeError:
            return []
        error = _compile_error(source, rel)
        if error is None:
            path.write_bytes(source)
            return [SetAside(rel, err.lineno, type(err).__name__, _message(err), _describe(lines, b, original))
                    for b, err in done]
    return []


def _compile_error(source: bytes, rel: str) -> SyntaxError | None:
    try:
        compile(source, rel, "exec", dont_inherit=True)
    except SyntaxError as err:
        return err
    except (ValueError, RecursionError, MemoryError, OverflowError) as err:
        raise ValueError(f"cannot parse: {type(err).__name__}") from None
    return None


def _repair_one(lines: list[str], error: SyntaxError, rel: str) -> tuple[list[str], _Block] | None:
    """The smallest block around `error` whose stub makes this error go away."""
    line_no = error.lineno or 0
    if line_no < 1:
        return None
    for block in _candidates(lines, error):
        attempt = _stubbed(lines, block, error, line_no)
        if attempt is None:
            continue
        source = "".join(attempt)
        try:
            compile(source, rel, "exec", dont_inherit=True)
        except SyntaxError as later:
            # A stub that moved past this error is kept: a later error is repaired in its turn.
            where = (later.lineno or 0) - 1
            if later.lineno == line_no or block.header <= where < block.end:
                continue
        except (ValueError, RecursionError, MemoryError, OverflowError):
            return None
        return attempt, block
    return None


def _message(error: SyntaxError) -> str:
    return " ".join(str(error.msg or "invalid syntax").split())[:300]


def _indent(line: str) -> int:
    return len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip())


def _is_code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _ends_header(line: str) -> bool:
    return _strip_comment(line).rstrip().endswith(":")


def _strip_comment(line: str) -> str:
    # Good enough for headers: a '#' outside quotes starts a comment. Verified by compiling.
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def _block_at(lines: list[str], start: int) -> _Block | None:
    match = HEADER.match(lines[start])
    if not match:
        return None
    end_header = start
    while end_header < len(lines) and end_header < start + 20 and not _ends_header(lines[end_header]):
        end_header += 1
    if end_header >= len(lines) or not _ends_header(lines[end_header]):
        return None
    indent = _indent(lines[start])
    end = end_header + 1
    while end < len(lines) and (not _is_code(lines[end]) or _indent(lines[end]) > indent):
        end += 1
    # Trailing comments and blank lines belong to what follows, not to this block.
    while end > end_header + 1 and not _is_code(lines[end - 1]) and _indent_of_next_code(lines, end) <= indent:
        if lines[end - 1].strip() and _indent(lines[end - 1]) > indent:
            break
        end -= 1
    return _Block(start, end_header, end, indent, re.sub(r"\s+", " ", match["kw"]))


def _indent_of_next_code(lines: list[str], start: int) -> int:
    for line in lines[start:]:
        if _is_code(line):
            return _indent(line)
    return 0


def _candidates(lines: list[str], error: SyntaxError) -> list[_Block]:
    """Enclosing blocks of the error, innermost first, that do not run at import time."""
    index = min(error.lineno, len(lines)) - 1
    blocks: list[_Block] = []
    after = AFTER_LINE.search(str(error.msg or ""))
    if after and isinstance(error, IndentationError):
        block = _block_at(lines, int(after.group(1)) - 1) if 0 < int(after.group(1)) <= len(lines) else None
        if block is not None:
            blocks.append(block)
    limit = _indent(lines[index]) if index >= 0 and _is_code(lines[index]) else 10**6
    if index >= 0 and HEADER.match(lines[index]) and not (blocks and blocks[0].header == index):
        own = _block_at(lines, index)
        if own is not None and DEF_NAME.match(lines[index]):
            blocks.append(own)  # a broken `def` line: the whole function is rebuilt
        limit = _indent(lines[index])
    for j in range(index - 1, -1, -1):
        if limit == 0:
            break
        if not _is_code(lines[j]) or _indent(lines[j]) >= limit or not HEADER.match(lines[j]):
            continue
        block = _block_at(lines, j)
        limit = _indent(lines[j])
        if block is not None and block.end > index >= block.header and block not in blocks:
            blocks.append(block)
    chain = sorted(blocks, key=lambda b: -b.header)  # innermost (latest start) first
    return [b for b in chain if _runs_later(lines, b, chain)]


def _runs_later(lines: list[str], block: _Block, chain: list[_Block]) -> bool:
    """Whether stubbing `block` leaves the module importable: it is inside a function, or it
    is a main guard (or a function itself)."""
    if block.keyword in ("def", "async def") or MAIN_GUARD.match(lines[block.header]):
        return True
    return any(b.keyword in ("def", "async def") and b.header < block.header and b.end >= block.end
               for b in chain)


def _stub_line(indent: str, error: SyntaxError, line_no: int) -> str:
    kind = type(error).__name__ if type(error).__name__ in ("SyntaxError", "IndentationError", "TabError") \
        else "SyntaxError"
    text = (error.text or "").rstrip("\n")[:300]
    message = f"{_message(error)} (set aside by the grader: Python cannot read this line)"
    return (f"{indent}raise {kind}({ascii(message)}, (__file__, {line_no}, "
            f"{int(error.offset or 0)}, {ascii(text)}))\n")


def _stubbed(lines: list[str], block: _Block, error: SyntaxError, line_no: int) -> list[str] | None:
    out = list(lines)
    error_index = line_no - 1
    if block.header <= error_index <= block.header_end:
        # The header itself is broken: only a def can be rebuilt (any arguments accepted).
        name = DEF_NAME.match(lines[block.header])
        if name is None:
            return None
        pad = lines[block.header][: len(lines[block.header]) - len(lines[block.header].lstrip())]
        head = f"{pad}{'async ' if 'async' in block.keyword else ''}def {name['name']}(*args, **kwargs):\n"
        body_pad = pad + "    "
        out[block.header] = head
        for k in range(block.header + 1, block.end):
            out[k] = "\n"
        target = block.header + 1
        if target >= len(out):
            out.append("")
        out[target] = _stub_line(body_pad, error, line_no)
        return out
    body = range(block.header_end + 1, block.end)
    code_lines = [k for k in body if _is_code(lines[k])]
    pad_source = lines[code_lines[0]] if code_lines else None
    if pad_source is not None and _indent(pad_source) > block.indent:
        body_pad = pad_source[: len(pad_source) - len(pad_source.lstrip())]
    else:
        header_pad = lines[block.header][: len(lines[block.header]) - len(lines[block.header].lstrip())]
        body_pad = header_pad + "    "
    for k in body:
        out[k] = "\n"
    if len(body) == 0:
        # Nothing to replace (the header ends the file, or a dedented line follows it): the
        # stub goes on the header's own line.
        head = _strip_comment(lines[block.header_end]).rstrip()
        out[block.header_end] = head + " " + _stub_line("", error, line_no)
        return out
    target = error_index if block.header_end < error_index < block.end else body.start
    out[target] = _stub_line(body_pad, error, line_no)
    return out


def _describe(stubbed: list[str], block: _Block, original: list[str]) -> str:
    """`Model.evaluate`, a block of `Model.evaluate` (lines a-b), or the main block."""
    lines = f"lines {block.header + 1}-{block.end}" if block.end > block.header + 1 else f"line {block.header + 1}"
    if MAIN_GUARD.match(original[block.header]):
        return f"the `if __name__ == ...:` block ({lines})"
    qualname = _qualname_at(stubbed, block.header + 1)
    whole = block.keyword in ("def", "async def")
    if qualname is None:
        return f"the block at {lines}"
    return code_span(qualname) if whole else f"a block of {code_span(qualname)} ({lines})"


def _qualname_at(lines: list[str], line_no: int) -> str | None:
    try:
        tree = ast.parse("".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    best: list[str] = []

    def walk(node: ast.AST, names: list[str]) -> None:
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                start = min([child.lineno] + [d.lineno for d in child.decorator_list])
                if start <= line_no <= (child.end_lineno or child.lineno):
                    here = names + [child.name]
                    if len(here) > len(best):
                        best = here
                    walk(child, here)
            else:
                walk(child, names)

    walk(tree, [])
    return ".".join(best) if best else None
