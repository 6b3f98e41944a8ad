"""What `check` and `grade` print must not crash and must fit: any encoding, any width.

- Encoding: a legacy console (cp1252 on Windows, output redirected to a file, an old
  terminal) cannot show `√`, `±` or box characters. `use_fallback_spellings(stream)` makes
  the stream write an ASCII spelling (`sqrt`, `+/-`, `-`) for any character its encoding
  lacks, `?` as the last resort: never UnicodeEncodeError.
- Width: `width()` is the terminal's (80 columns when there is none), and `wrap()` breaks
  lines between words, never inside one, keeping each line's indentation.
"""
from __future__ import annotations

import codecs
import shutil
import textwrap
import unicodedata

ERRORS = "autograder.spell"
DEFAULT_WIDTH = 80
MIN_WIDTH = 50

SPELLINGS = {
    "√": "sqrt", "±": "+/-", "×": "x", "÷": "/", "·": "*", "≤": "<=", "≥": ">=", "≠": "!=",
    "≈": "~=", "∞": "inf", "→": "->", "←": "<-", "⇒": "=>", "↔": "<->", "…": "...", "—": "-",
    "–": "-", "−": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "«": '"', "»": '"', "•": "*",
    "²": "^2", "³": "^3", "¹": "^1", "⁻": "^-", "½": "1/2", "∑": "sum", "Σ": "Sum", "∂": "d",
    "∇": "grad", "∈": "in", "∉": "not in", "∀": "for all", "σ": "sigma", "μ": "mu", "ε": "eps",
    "λ": "lambda", "η": "eta", "α": "alpha", "β": "beta", "γ": "gamma", "θ": "theta",
    "π": "pi", "δ": "delta", "Δ": "Delta", "ρ": "rho", "τ": "tau", "ω": "omega", "φ": "phi",
    "✓": "ok", "✔": "ok", "✗": "x", "✘": "x", "─": "-", "━": "-", "│": "|", "┃": "|",
    "┌": "+", "┐": "+", "└": "+", "┘": "+", "├": "+", "┤": "+", "┬": "+", "┴": "+", "┼": "+",
    "═": "=", "║": "|", "╔": "+", "╗": "+", "╚": "+", "╝": "+", "\u00a0": " ", "°": " deg",
}


def spell(char: str) -> str:
    """An ASCII spelling of one character."""
    if char in SPELLINGS:
        return SPELLINGS[char]
    decomposed = unicodedata.normalize("NFKD", char)
    ascii_only = "".join(c for c in decomposed if ord(c) < 128)
    return ascii_only or "?"


def _spell_errors(err: UnicodeError):
    if not isinstance(err, UnicodeEncodeError):
        raise err
    return "".join(spell(c) for c in err.object[err.start:err.end]), err.end


codecs.register_error(ERRORS, _spell_errors)


def use_fallback_spellings(stream) -> None:
    """Make a text stream spell out what its encoding cannot show, instead of raising."""
    try:
        stream.reconfigure(errors=ERRORS)
    except (AttributeError, ValueError, OSError):
        pass  # not a TextIOWrapper (a test's StringIO holds any character anyway)


def for_encoding(text: str, encoding: str | None) -> str:
    """`text` with what `encoding` cannot hold spelled in ASCII."""
    if not encoding:
        return text
    try:
        return text.encode(encoding, errors=ERRORS).decode(encoding)
    except LookupError:
        return text


def width() -> int:
    """Columns to fit: the terminal's (or $COLUMNS), 80 when there is no terminal."""
    columns = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    return max(MIN_WIDTH, columns if columns > 0 else DEFAULT_WIDTH)


def wrap(text: str, columns: int) -> str:
    """Each line broken between words to fit `columns`; continuation lines keep the line's
    indentation (plus two spaces for prose, so a wrapped line reads as one)."""
    out: list[str] = []
    for line in text.splitlines():
        if len(line) <= columns:
            out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip(" "))]
        hang = indent + ("  " if not indent else "    " if indent.startswith("    ") else "  ")
        out += textwrap.wrap(line.strip(" "), columns, initial_indent=indent, subsequent_indent=hang,
                             break_long_words=False, break_on_hyphens=False, drop_whitespace=True,
                             replace_whitespace=False) or [line]
    return "\n".join(out)


def shorten(text: str, columns: int) -> str:
    """One line of at most `columns`, cut between words with "..." (a lone long word is cut)."""
    text = " ".join(text.split())
    if len(text) <= columns:
        return text
    cut = text[: columns - 3].rsplit(" ", 1)[0] if " " in text[: columns - 3] else text[: columns - 3]
    return cut.rstrip(" ,;:") + "..."
