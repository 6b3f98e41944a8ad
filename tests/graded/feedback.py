"""Failure messages that teach: the property, the input, expected vs returned, a hint.

Every graded assertion goes through this module, so that every failure reads the same way:

    **Property.** One sentence saying what a correct implementation does.
    **Input** (the smallest Hypothesis found), as small arrays.
    **Expected / returned**, with the worst index and both values there.
    **Hint**: the likely mistake, recognised from the shape of the error
    (a factor of N, a sign, a transpose, a wrong axis, a case the test lists).

A failure raises `Failed` (an AssertionError), whose message is the Markdown shown to the
student. Hypothesis shrinks before the final replay, so the input shown is the smallest.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

import judge


class Failed(AssertionError):
    """A property does not hold; the message is the student's feedback (Markdown)."""


# ---------------------------------------------------------------------------- formatting

def show(value: Any) -> str:
    """A value as a short, readable string (arrays rounded, long ones cut)."""
    if isinstance(value, np.ndarray) or (
        isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float)) for v in value)
    ):
        arr = np.asarray(value)
        if arr.dtype.kind in "biuf":
            text = np.array2string(arr, precision=6, suppress_small=True, threshold=60,
                                   edgeitems=3, max_line_width=90)
            return f"{text}  (shape {arr.shape})" if arr.ndim else text
    if isinstance(value, float):
        return f"{value:.8g}"
    text = repr(value)
    return text if len(text) <= 400 else text[:400] + " ..."


def code_block(text: str) -> str:
    return "```\n" + text.rstrip() + "\n```"


def inputs_block(inputs: Mapping[str, Any] | None) -> str:
    if not inputs:
        return ""
    lines = []
    for name, value in inputs.items():
        shown = show(value)
        if "\n" in shown:
            lines.append(f"{name} =\n{shown}")
        else:
            lines.append(f"{name} = {shown}")
    title = "**Input** (the smallest failing case found):" if in_hypothesis() else "**Input:**"
    return title + "\n" + code_block("\n".join(lines))


def in_hypothesis() -> bool:
    try:
        from hypothesis.control import currently_in_test_context
        return currently_in_test_context()
    except ImportError:
        return False


def message(prop: str, *, inputs: Mapping[str, Any] | None = None, detail: str = "",
            hint: str | None = None) -> str:
    parts = [f"**Property.** {prop}"]
    block = inputs_block(inputs)
    if block:
        parts.append(block)
    if detail:
        parts.append(detail)
    if hint:
        parts.append(f"**Hint:** {hint}")
    if judge.unrecorded(inputs):  # student kit only: a value check on this input was skipped
        parts.append(f"*{judge.UNRECORDED_NOTE}*")
    return "\n\n".join(parts)


def fail(prop: str, *, inputs: Mapping[str, Any] | None = None, detail: str = "",
         hint: str | None = None) -> None:
    raise Failed(message(prop, inputs=inputs, detail=detail, hint=hint))


# ---------------------------------------------------------------------------- values

def as_array(value: Any, what: str, prop: str, inputs: Mapping[str, Any] | None) -> np.ndarray:
    """A returned value as a float64 array, or a failure saying what came back instead."""
    if value is None:
        fail(prop, inputs=inputs, detail=f"`{what}` returned `None`.",
             hint="did you forget a `return` statement?")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(prop, inputs=inputs,
             detail=f"`{what}` returned {type(value).__name__} `{show(value)}`, not an array of numbers.",
             hint="return a numpy array (or Tensor) of numbers; a list of arrays with "
                  "different shapes cannot be one array.")
    return arr


def expect(condition: bool, prop: str, *, inputs: Mapping[str, Any] | None = None,
           detail: str = "", hint: str | None = None) -> None:
    if not condition:
        fail(prop, inputs=inputs, detail=detail, hint=hint)


def expect_close(prop: str, *, expected: Any, returned: Any, what: str = "your function",
                 inputs: Mapping[str, Any] | None = None, rtol: float = 1e-6, atol: float = 1e-8,
                 batch: int | None = None, mistakes: Mapping[str, Any] | None = None,
                 accept: Iterable[Any] = (), hint: str | None = None) -> np.ndarray:
    """Fail unless `returned` equals `expected` within rtol/atol (numpy's isclose rule).

    batch:    the batch size N, so that a factor of N (or 1/N) is recognised.
    mistakes: {hint: what a typical wrong implementation returns}; a match gives that hint.
    accept:   other answers that are also correct (e.g. an equally valid formula variant).
    hint:     the hint when no specific mistake is recognised.
    Returns the returned value as a float64 array.
    expected may be judge.UNKNOWN (student kit, an input with no recorded answer): then only
    the returned value's type is checked; Gradescope checks the value.
    """
    got = as_array(returned, what, prop, inputs)
    if judge.is_unknown(expected):
        return got
    exp = np.asarray(expected, dtype=np.float64)
    for alternative in accept:
        alt = np.asarray(alternative, dtype=np.float64)
        if got.shape == alt.shape and np.allclose(got, alt, rtol=rtol, atol=atol):
            return got
    if got.shape != exp.shape:
        fail(prop, inputs=inputs,
             detail=f"`{what}` returned shape {got.shape}; expected shape {exp.shape}.\n\n"
                    f"Expected:\n{code_block(show(exp))}\nReturned:\n{code_block(show(got))}",
             hint=shape_hint(exp, got, batch) or hint)
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(exp)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
        fail(prop, inputs=inputs,
             detail=f"`{what}` returned a non-finite value {got[bad]} at index {bad}; "
                    f"expected {exp[bad]:.8g}.\n\nReturned:\n{code_block(show(got))}",
             hint=hint or "look for an overflow in exp(), a log of 0 or a division by 0.")
    excess = np.abs(got - exp) - (atol + rtol * np.abs(exp))
    if np.all(excess <= 0):
        return got
    worst = np.unravel_index(int(np.argmax(excess)), exp.shape) if exp.ndim else ()
    worst_text = f" at index {tuple(int(i) for i in worst)}" if exp.ndim else ""
    detail = (
        f"Worst difference{worst_text}: expected {exp[worst]:.8g}, returned {got[worst]:.8g} "
        f"(tolerance {atol:g} + {rtol:g}*|expected|).\n\n"
        f"Expected:\n{code_block(show(exp))}\nReturned:\n{code_block(show(got))}"
    )
    fail(prop, inputs=inputs, detail=detail,
         hint=value_hint(exp, got, batch, mistakes, rtol, atol) or hint)
    return got  # unreachable; keeps type checkers calm


# ---------------------------------------------------------------------------- hints

def _ratio(exp: np.ndarray, got: np.ndarray) -> float | None:
    """The constant c with got == c * exp, if there is one."""
    mask = np.abs(exp) > 1e-9 * max(1.0, float(np.max(np.abs(exp))))
    if not np.any(mask):
        return None
    ratios = got[mask] / exp[mask]
    c = float(np.median(ratios))
    if np.allclose(got, c * exp, rtol=1e-4, atol=1e-9 * max(1.0, float(np.max(np.abs(exp))))):
        return c
    return None


def value_hint(exp: np.ndarray, got: np.ndarray, batch: int | None,
               mistakes: Mapping[str, Any] | None, rtol: float, atol: float) -> str | None:
    for text, candidate in (mistakes or {}).items():
        if judge.is_unknown(candidate):
            continue
        cand = np.asarray(candidate, dtype=np.float64)
        if cand.shape == got.shape and np.allclose(got, cand, rtol=max(rtol, 1e-6), atol=max(atol, 1e-9)):
            return text
    c = _ratio(exp, got)
    if c is not None and not np.isclose(c, 1.0):
        if batch and batch > 1 and np.isclose(c, batch, rtol=1e-4):
            return (f"your result is N = {batch} times too large: did you forget to divide by "
                    "the batch size (a batch-mean loss has a 1/N in its gradient)?")
        if batch and batch > 1 and np.isclose(c, 1.0 / batch, rtol=1e-4):
            return (f"your result is N = {batch} times too small: did you divide by the batch "
                    "size twice, or average where the API sums over the batch?")
        if np.isclose(c, -1.0, rtol=1e-4):
            return "your result has the wrong sign everywhere: check the sign of the formula."
        if np.isclose(c, 2.0, rtol=1e-4) or np.isclose(c, 0.5, rtol=1e-4):
            return f"your result is {c:g} times the expected one: check for a missing or extra factor of 2."
        if np.isclose(c, 0.0, atol=1e-12):
            return "your result is all zeros: is the computation missing, or overwritten?"
        return f"your result is {c:.6g} times the expected one everywhere: look for a wrong constant factor."
    if exp.ndim == 2 and exp.shape[0] == exp.shape[1] and np.allclose(got, exp.T, rtol=1e-5, atol=1e-9):
        return "your result is the transpose of the expected one."
    if exp.ndim == 3 and np.allclose(got, np.swapaxes(exp, 1, 2), rtol=1e-5, atol=1e-9):
        return "each matrix in your result is transposed (the last two axes are swapped)."
    return None


def shape_hint(exp: np.ndarray, got: np.ndarray, batch: int | None) -> str | None:
    if got.ndim == exp.ndim and got.shape == exp.shape[::-1]:
        return "your result has the transposed shape: check the order of a matrix product or a `.T`."
    if got.size == exp.size:
        return ("your result has the right number of entries but the wrong shape: "
                "check a reshape, a missing `keepdims=True`, or the axis you reduce over.")
    if got.ndim == exp.ndim - 1:
        return "your result has one axis fewer than expected: did you sum or average over an axis you should keep?"
    if got.ndim == exp.ndim + 1:
        return "your result has one axis more than expected: did you forget to sum over the batch?"
    if batch and exp.ndim and exp.shape[0] == batch and (not got.ndim or got.shape[0] != batch):
        return "the first axis must be the batch: one row per example."
    return None


def gradient_list(value: Any, count: int, what: str, prop: str,
                  inputs: Mapping[str, Any] | None) -> list:
    """A list of `count` gradients from what the API allows: a list/tuple, or one array
    whose first axis indexes the gradients (e.g. `g * J` with J a one-element list)."""
    if isinstance(value, (list, tuple)):
        items = list(value)
    elif isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == count and count >= 1:
        items = list(value)
    else:
        fail(prop, inputs=inputs,
             detail=f"`{what}` returned {type(value).__name__} `{show(value)}`; expected a list of {count}.",
             hint="gradient methods return a list, one entry per input (or per weight).")
    if len(items) < count:
        fail(prop, inputs=inputs,
             detail=f"`{what}` returned a list of {len(items)}; expected at least {count}.",
             hint="return one gradient per input (or per weight), in order.")
    return items


def describe_error(error: BaseException) -> str:
    """A student's exception as Markdown, using the engine's rendering when it has one."""
    markdown = getattr(error, "markdown", None)
    if callable(markdown):
        try:
            return markdown()
        except Exception:  # a rendering problem must not hide the student's error
            pass
    return f"`{type(error).__name__}: {error}`"


def dims_text(shapes: Sequence[tuple]) -> str:
    return ", ".join(str(s) for s in shapes)
