"""Student text is data: the one rule for putting it into our Markdown.

Anything the submission controls (exception type names and messages, traceback frames, file
names, printed output, names of returned objects, values shown back) may be written to
break out of the Markdown around it: a carriage return is a CommonMark line ending, so
`"Oops\\r\\r<img src=x onerror=...>"` inside a naively quoted span starts a new paragraph of
raw HTML; a backtick ends a code span early; a line of backticks closes a fence. So:

- `clean(text)` drops control characters (C0 and C1, DEL, the Unicode bidi overrides that
  make text read differently from what it is), turning `\\r\\n` and `\\r` into `\\n`. Only
  `\\n` and `\\t` survive, and only where the context allows them.
- `code_span(text)` puts text inline, on one line, between backtick runs longer than any
  inside it. In a code span nothing is Markdown or HTML: no tag, link, entity or escape.
- `fence(text)` puts text in a fenced block whose fence is longer than any backtick run
  inside. Use it only at the top level of a document (not inside a list item or a quote,
  whose container a less indented line would end, and the rest with it).
- `terminal(text)` is for the console: the same characters dropped, so printed feedback
  cannot move the cursor, recolour, or rewrite what is already on screen.

HTML pages escape with `html.escape` after `clean` (autograder/regrade/report.py).

`live_markup(markdown)` is the check behind all of this: a real CommonMark parser
(markdown-it-py) lists the raw HTML, links and images a document would render. Our own
templates produce none, so the results writer treats any as student text that escaped
(results.inert_outputs).
"""
from __future__ import annotations

import functools
import re
from typing import Any

# C0 controls but \t and \n, DEL, C1 controls (U+0085 NEL included), the Unicode line and
# paragraph separators, and the bidi embedding/override/isolate marks.
_DROP = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_BACKTICKS = re.compile(r"`+")
# Lone surrogates: a file name that is not UTF-8 comes back from os.listdir as
# surrogate-escaped text, which no UTF-8 document (results.json) can hold.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean(text: Any, *, newlines: bool = True, tabs: bool = True) -> str:
    """`text` as a str without control characters. Line endings become `\\n` (or a space
    when `newlines` is False); tabs stay unless `tabs` is False (then a space)."""
    text = str(text).replace("\r\n", "\n").replace("\r", "\n")
    text = _DROP.sub("", text)
    text = _SURROGATE.sub("\ufffd", text)
    if not newlines:
        text = text.replace("\n", " ")
    if not tabs:
        text = text.replace("\t", " ")
    return text


def _longest_backticks(text: str) -> int:
    return max((len(m) for m in _BACKTICKS.findall(text)), default=0)


def _capped(text: str, cap: int | None) -> str:
    if cap is not None and len(text) > cap:
        return text[:cap] + f" ... ({len(text) - cap} more characters not shown)"
    return text


def code_span(text: Any, cap: int | None = 300) -> str:
    """Untrusted text as one inline code span: `` `text` ``, on one line, capped."""
    text = _capped(clean(text, newlines=False, tabs=False), cap)
    if not text:
        return "` `"  # an empty span is not a span: it would render as two literal backticks
    ticks = "`" * (_longest_backticks(text) + 1)
    # A span's content that begins or ends with a backtick needs a space to be told apart
    # from the delimiter (CommonMark strips one space on each side).
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(text: Any, lang: str = "text", cap: int | None = None) -> str:
    """Untrusted text as a fenced code block (top level of a document only)."""
    text = clean(text)
    if cap is not None and len(text) > cap:
        text = text[:cap] + f"\n... ({len(text) - cap} more characters not shown)"
    marks = "`" * max(3, _longest_backticks(text) + 1)
    return f"{marks}{lang}\n{text}\n{marks}"


def terminal(text: Any) -> str:
    """Text for a console: control characters (ANSI escapes' ESC included) dropped."""
    return clean(text)


# Tokens our templates never produce: one in a document is student text that got out.
LIVE_TOKENS = ("html_block", "html_inline", "link_open", "image")
_parser = None


@functools.lru_cache(maxsize=2048)  # results.json is rewritten after every test, mostly unchanged
def live_markup(markdown: str) -> tuple[str, ...]:
    """The raw HTML, links and images CommonMark would render in `markdown` (markdown-it-py,
    the CommonMark preset: what Gradescope's renderer also follows)."""
    global _parser
    if _parser is None:
        from markdown_it import MarkdownIt
        _parser = MarkdownIt("commonmark")
    found, todo = [], list(_parser.parse(markdown))
    while todo:
        token = todo.pop()
        if token.type in LIVE_TOKENS:
            found.append(f"{token.type} {clean(token.content or token.attrs, newlines=False)[:80]!r}")
        todo.extend(token.children or ())
    return tuple(found)
