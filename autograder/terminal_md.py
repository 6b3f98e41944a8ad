"""Markdown (what results.json holds) rendered for a terminal, as `check` and `grade` print it.

Code stays verbatim: a fenced block (``` or ~~~, any length; it closes with a fence of the
same character at least as long) becomes a block indented by four spaces, and an inline
code span (a run of N backticks up to the next run of exactly N) keeps every character,
so `self.forward(*args, **kwargs)` prints with its `**`. Outside code, emphasis markers
that pair (**bold**, *em*, __bold__) and backslash escapes are removed, headings lose their
hashes, and links print as "text (url)".
"""
from __future__ import annotations

import re

FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
EMPHASIS = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$")


def render(markdown: str) -> str:
    out: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening and not (opening["fence"][0] == "`" and "`" in opening["info"]):
            fence = opening["fence"]
            close = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
            i += 1
            while i < len(lines) and not close.match(lines[i]):
                out.append("    " + lines[i] if lines[i] else "")
                i += 1
            i += 1  # the closing fence (or the end: an unclosed fence runs to the end)
            continue
        heading = HEADING.match(lines[i])
        out.append(inline(heading.group(1) if heading else lines[i]))
        i += 1
    return "\n".join(out)


def inline(text: str) -> str:
    """One line: code spans verbatim, Markdown removed from the rest. Emphasis may span a
    code span (`**Your submission has no `x.py`**`): the spans are held aside as
    placeholders while the prose around them is turned into plain text."""
    held: list[str] = []
    pieces, pos = [], 0
    for match in re.finditer(r"`+", text):
        if match.start() < pos:
            continue
        ticks = match.group(0)
        closing = re.compile(rf"(?<!`){ticks}(?!`)").search(text, match.end())
        if closing is None:
            continue
        pieces.append(text[pos:match.start()].replace("\x01", ""))
        code = text[match.end():closing.start()]
        if len(code) > 2 and code.startswith(" ") and code.endswith(" ") and code.strip():
            code = code[1:-1]
        held.append(code)
        pieces.append(f"\x01{len(held) - 1}\x01")
        pos = closing.end()
    pieces.append(text[pos:].replace("\x01", ""))
    prose = _prose("".join(pieces))
    return re.sub("\x01(\\d+)\x01", lambda m: held[int(m.group(1))], prose)


def _prose(text: str) -> str:
    # Escapes are taken out first (as placeholders) so an escaped \\* is never emphasis.
    held: list[str] = []

    def hold(match: re.Match) -> str:
        held.append(match.group(1))
        return f"\x00{len(held) - 1}\x00"

    text = ESCAPE.sub(hold, text)
    text = LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    text = STRONG.sub(r"\2", text)
    text = EMPHASIS.sub(r"\1", text)
    return re.sub("\x00(\\d+)\x00", lambda m: held[int(m.group(1))], text)
