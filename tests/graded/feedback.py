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

from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

import judge
from autograder.untrusted import code_span, fence


class Failed(AssertionError):
    """A property does not hold; the message is the student's feedback (Markdown).

    `extra_data["hints"]` lists the mistake class of each hint in the message (MISTAKES), for
    the results' extra_data: validation measures with it whether a hint names the real mistake.
    It is never shown to students."""

    def __init__(self, text: str, hints: Sequence["Hint | str"] = (), prop: str = ""):
        super().__init__(text)
        self.extra_data = {"hints": [mistake_of(h) for h in hints if h]}
        self.prop = prop
        # What the values showed, in the hints' vocabulary: their mistake classes and the
        # observations they declare (`Hint.shows`). The case chooser matches titles on it.
        self.observed = {c for c in self.extra_data["hints"] if c} | {
            key for h in hints if h for key in getattr(h, "shows", ())}


# ---------------------------------------------------------------------------- mistake classes

# The classes of mistakes a hint can name. validation/parts.yaml lists the same vocabulary
# (a project test checks they agree); each mutant declares one, and validation counts a
# mutant as diagnosed when its feedback has a hint of its class and none of another.
MISTAKES = {
    "batch-mean": "a factor of the batch size N, the classes C or N*C: a sum for a mean, a wrong divisor",
    "constant-factor": "a constant factor is missing or extra (2, 255, ...)",
    "sign": "the sign is flipped",
    "transpose": "a matrix, or the layout of an array, is transposed",
    "wrong-axis": "a reduction or normalisation over the wrong axis",
    "shape": "the right values in a wrong shape or nesting",
    "missing-term": "a term of the formula is left out (a bias, a diagonal, a slope, a layer)",
    "wrong-input": "the formula uses the wrong quantity (the input for the output, labels for classes)",
    "wrong-formula": "another formula (no square root, a precedence slip, another distribution)",
    "overflow": "exp() overflows: no max shift or stable form",
    "clipping": "a log or division of unclipped probabilities",
    "epsilon-placement": "epsilon in the wrong place",
    "missing-bias-correction": "Adam's moments are not bias-corrected",
    "step-count": "the step counter t is wrong (starts at 0, counts parameters)",
    "state-shared": "state shared between parameters, or kept under the wrong key",
    "not-in-place": "a parameter is rebound instead of updated in place",
    "trainable-flag": "the trainable flag is ignored or wrong",
    "tape-recording": "the tape does not record or compose what it must",
    "training-mode": "weights change when they must not (evaluate, training=False)",
    "partial-batch": "the last, partial batch is dropped",
    "wrong-type": "a value of the wrong type (a class for an instance, a plain array for a Tensor)",
    "integer-division": "integer arithmetic where fractions are needed",
    "hyperparameter": "a hyperparameter (learning rate) far from working values",
    "missing-error": "an invalid argument is accepted silently",
    "missing-return": "a method returns None",
    "not-implemented": "the part is still the handout's stub",
    "slow": "correct but too slow (per-sample loops)",
}
# Hints that name no mistake, so they can neither diagnose one nor point at a wrong one:
# what was observed ("your result is all zeros"), or a reminder of what correct code does.
OBSERVATION = "observation"
REMINDER = "reminder"
NEUTRAL = (OBSERVATION, REMINDER)


class Hint(str):
    """A hint's text (what students read), with the class of mistake it names (never shown)
    and `shows`: what the values showed, in words a sub-check's cause can name (e.g. "ties",
    "distribution"), for the case chooser (`choose`)."""

    mistake: str
    shows: tuple = ()

    def __new__(cls, mistake: str, text: str, shows: Iterable[str] = ()) -> "Hint":
        if mistake not in MISTAKES and mistake not in NEUTRAL:
            raise ValueError(f"unknown mistake class {mistake!r}")
        self = super().__new__(cls, text)
        self.mistake = mistake
        self.shows = tuple(shows)
        return self


def mistake_of(text: Any) -> str | None:
    """The class a hint names; None for a plain string (validation lists those as untagged)."""
    return getattr(text, "mistake", None)


# ---------------------------------------------------------------------------- tests failed so far

# Filled by conftest.py as tests finish (end-to-end tests run last), so that a test that uses
# every part can point at the unit tests that failed instead of guessing.
FAILED_SO_FAR: list = []  # (number, name, tags) of each failed test, in run order


def failed_unit_tests(exclude_tags: Iterable[str] = ("end-to-end", "style-sensitive"),
                      keep: Callable[[tuple], bool] | None = None) -> list:
    """(number, name) of the failed tests so far, lowest number first, without those tagged;
    with `keep`, only those whose tags it accepts."""
    excluded = set(exclude_tags)
    found = {(number, name) for number, name, tags in FAILED_SO_FAR
             if not excluded & set(tags) and (keep is None or keep(tuple(tags)))}
    return sorted(found, key=lambda t: [int(p) if p.isdigit() else p for p in str(t[0]).split(".")])


# ---------------------------------------------------------------------------- upstream blame

def rests_on(*parts: str):
    """Declare the student parts a test uses besides the one it grades, each named by the tag
    of the tests that grade it (e.g. `@rests_on("tensor", "weighted")` on a model test, whose
    test-provided layers hold the student's Variables). When one of those tests failed earlier
    in the run, this test's failure says so first (conftest.py); those tests must have lower
    numbers, so that they run first (conftest.py refuses a suite where they do not)."""
    def declare(function):
        function.__rests_on__ = tuple(parts)
        return function
    return declare


def blames(*parts: str):
    """Declare the parts whose failed tests a test's own feedback may name (through
    `failed_unit_tests`), e.g. an end-to-end test naming the unit tests of what its training
    used. Unlike `rests_on`, the failure's text is left to the test; like it, those tests must
    have lower numbers, so that they have run when it reads their failures."""
    def declare(function):
        function.__blames__ = tuple(parts)
        return function
    return declare


def upstream_failures(parts: Iterable[str], own_number: str | None = None) -> list:
    """(number, name) of the failed tests so far that grade one of `parts`, lowest number
    first, without the test itself."""
    wanted = set(parts)
    found = {(number, name) for number, name, tags in FAILED_SO_FAR
             if wanted & set(tags) and str(number) != str(own_number)}
    return sorted(found, key=lambda t: [int(p) if p.isdigit() else p for p in str(t[0]).split(".")])


def upstream_hint(failed: Sequence[tuple], own_hint: str | None = None) -> Hint:
    """The hint of a failure that an earlier failing test explains; the test's own hint, if
    any, is kept as what to look at once those pass (a claim made only on that condition)."""
    listed = ", ".join(f"{number} ({name})" for number, name in failed[:3])
    more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
    text = (f"an earlier failing test explains this: {listed}{more}. This test uses the part that "
            f"{'it grades' if len(failed) == 1 else 'they grade'}, so fix {failed[0][0]} first; this one will "
            f"likely pass then.")
    if own_hint:
        text += f" If it still fails after that: {own_hint}"
    return Hint(REMINDER, text)


HINT_PARAGRAPH = "**Hint:** "


def with_upstream_hint(markdown: str, failed: Sequence[tuple]) -> str:
    """A failure's Markdown with its hint paragraph replaced by the upstream hint."""
    paragraphs = markdown.split("\n\n")
    own = [p for p in paragraphs if p.startswith(HINT_PARAGRAPH)]
    kept = [p for p in paragraphs if not p.startswith(HINT_PARAGRAPH)]
    own_hint = own[0][len(HINT_PARAGRAPH):].strip() if own else None
    hint = upstream_hint(failed, own_hint)
    # The hint goes where a hint goes: after the property, input and details, before notes.
    at = next((i for i, p in enumerate(kept) if p.startswith("*") and not p.startswith("**")), len(kept))
    return "\n\n".join(kept[:at] + [HINT_PARAGRAPH + hint] + kept[at:])


# ---------------------------------------------------------------------------- formatting

def plain(value: Any) -> Any:
    """numpy scalars as Python numbers, inside lists, tuples and dicts too (numpy 2 shows
    them as `np.int64(1)`, which means nothing to a student)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(plain(v) for v in value)
    return value


def show(value: Any) -> str:
    """A value as a short, readable string (arrays rounded, long ones cut)."""
    value = plain(value)
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        return repr(value)  # a shape or a pair of sizes, not data
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
    # Fetched values are plain data, so backticks can only be in string literals, where
    # \x60 means the same: shown inside `...`, student text then cannot end the code span.
    text = repr(value).replace("`", "\\x60")
    return text if len(text) <= 400 else text[:400] + " ..."


def code_block(text: str) -> str:
    # Values shown here came from student code: the engine's fence cannot be broken out of.
    return fence(text.rstrip(), lang="")


def inputs_block(inputs: Mapping[str, Any] | None, found: bool | None = None) -> str:
    """The inputs, one `name = value` line each. found: they are the smallest failing case
    Hypothesis found (default: whether this runs inside a Hypothesis test)."""
    if not inputs:
        return ""
    lines = []
    for name, value in inputs.items():
        shown = show(value)
        if "\n" in shown:
            lines.append(f"{name} =\n{shown}")
        else:
            lines.append(f"{name} = {shown}")
    found = in_hypothesis() if found is None else found
    title = "**Input** (the smallest failing case found):" if found else "**Input:**"
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
    # No note that the kit has no recorded value for this input (judge.UNRECORDED_NOTE):
    # this failure is definite whatever that value is, and the note read as a doubt.
    return "\n\n".join(parts)


def failure(prop: str, *, inputs: Mapping[str, Any] | None = None, detail: str = "",
            hint: str | None = None) -> Failed:
    """The exception `fail` raises, for code that raises it itself."""
    return Failed(message(prop, inputs=inputs, detail=detail, hint=hint), [hint] if hint else [], prop)


def fail(prop: str, *, inputs: Mapping[str, Any] | None = None, detail: str = "",
         hint: str | None = None) -> None:
    raise failure(prop, inputs=inputs, detail=detail, hint=hint)


# ---------------------------------------------------------------------------- the case chooser

class Check:
    """One sub-check of a test: a property checked on one input, whose title the student reads.

    run(title, hint) checks it and raises `Failed` (hint: the test's own hint, or None).
    cause:    what the title names beyond the plain property, in the hints' vocabulary (a mistake
              class, or a word of `Hint.shows` such as "ties" or "distribution"); None for the
              plain property.
    neutral:  the title to show when the values did not show that cause.
    contrast: the title of the sub-check on the same input without the cause: when that one
              passes and this one fails, the failure lies where the cause is, so it is observed.
    hint:     the hint of a cause observed by contrast (the values alone cannot say it).
    size:     how big the input is; the smaller is shown first.
    """

    def __init__(self, title: str, run: Callable[[str, "Hint | None"], None], *, cause: str | None = None,
                 neutral: str | None = None, contrast: str | None = None, hint: "Hint | None" = None,
                 size: int = 0):
        self.title, self.run, self.cause, self.neutral = title, run, cause, neutral or title
        self.contrast, self.hint, self.size = contrast, hint, size


def choose(checks: Sequence[Check]) -> None:
    """Run every sub-check of a test and, when some fail, raise the failure that teaches most.

    A failure is shown under a title only when its values show what that title names. So the
    failures are ranked: (1) a sub-check whose cause was observed (its hint says it, or its
    contrast passed); (2) a plain property whose hint names a mistake; (3) any plain property;
    (4) a sub-check whose cause was NOT observed, under its neutral title. Within a rank, the
    smallest input, then the order given. A crash (of student code in a sub-check) is raised
    only when no sub-check failed with a verdict, which says more."""
    failures, crashes = [], []
    for order, check in enumerate(checks):
        try:
            check.run(check.title, None)
        except Failed as failed:
            failures.append((order, check, failed))
        except Exception as crash:  # noqa: BLE001 - kept, and raised below if nothing says more
            crashes.append(crash)
    if not failures:
        if crashes:
            raise crashes[0]
        return
    failed_titles = {check.title for _, check, _ in failures}
    passed_titles = {check.title for check in checks} - failed_titles

    def rank(entry):
        order, check, failed = entry
        if check.cause is not None:
            seen = check.cause in failed.observed or check.contrast in passed_titles
            return (0 if seen else 3, check.size, order)
        diagnosed = bool(failed.observed - set(NEUTRAL))
        return (1 if diagnosed else 2, check.size, order)

    _, check, failed = min(failures, key=rank)
    if check.cause is None:
        raise failed
    if check.cause in failed.observed:
        raise failed
    if check.contrast in passed_titles:
        raise retitled(failed, check.title, check.title, check.hint)
    raise retitled(failed, check.title, check.neutral, None)


def retitled(failed: Failed, title: str, new_title: str, hint: "Hint | None") -> Failed:
    """The same failure under another title and, when `hint` is given, with that hint."""
    text = str(failed).replace(f"**Property.** {title}", f"**Property.** {new_title}", 1)
    hints = list(failed.extra_data["hints"])
    if hint is not None:
        paragraphs = [p for p in text.split("\n\n") if not p.startswith(HINT_PARAGRAPH)]
        text = "\n\n".join(paragraphs + [HINT_PARAGRAPH + hint])
        hints = [mistake_of(hint)]
    again = Failed(text, (), new_title)
    again.extra_data = {"hints": hints}
    again.observed = set(failed.observed) | set(getattr(hint, "shows", ()))
    return again


# ---------------------------------------------------------------------------- values

def as_array(value: Any, what: str, prop: str, inputs: Mapping[str, Any] | None) -> np.ndarray:
    """A returned value as a float64 array, or a failure saying what came back instead."""
    if value is None:
        fail(prop, inputs=inputs, detail=f"`{what}` returned `None`.",
             hint=Hint("missing-return", "did you forget a `return` statement?"))
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(prop, inputs=inputs,
             detail=f"`{what}` returned {type(value).__name__} `{show(value)}`, not an array of numbers.",
             hint=Hint("wrong-type", "return a numpy array (or Tensor) of numbers; a list of arrays with "
                                     "different shapes cannot be one array."))
    return arr


def expect(condition: bool, prop: str, *, inputs: Mapping[str, Any] | None = None,
           detail: str = "", hint: str | None = None) -> None:
    if not condition:
        fail(prop, inputs=inputs, detail=detail, hint=hint)


def expect_close(prop: str, *, expected: Any, returned: Any, what: str = "your function",
                 inputs: Mapping[str, Any] | None = None, rtol: float = 1e-6, atol: float = 1e-8,
                 batch: int | None = None, classes: int | None = None,
                 mistakes: Mapping[str, Any] | None = None,
                 accept: Iterable[Any] = (), hint: str | None = None,
                 nonfinite_hint: str | None = None, second: Callable[[], tuple] | None = None,
                 ratios: bool = True) -> np.ndarray:
    """Fail unless `returned` equals `expected` within rtol/atol (numpy's isclose rule).

    batch:    the batch size N, so that a factor of N (or 1/N) is recognised.
    classes:  the number of classes C (default: the last axis of an (N, C) expected value).
    mistakes: {hint: what a typical wrong implementation returns}; a match gives that hint.
    accept:   other answers that are also correct (e.g. an equally valid formula variant).
    hint:     the hint when the values differ and no specific mistake is recognised.
    nonfinite_hint: the hint when the result has inf or nan where the expected value has none.
    second:   () -> (expected, returned, N) for the same computation at another batch size, to
              tell a factor of N from a constant when they coincide (called only then).
    ratios:   False where a ratio of the values means nothing (e.g. parameters after an update,
              whose wrong part is the step, not the value).
    Returns the returned value as a float64 array.
    expected may be judge.UNKNOWN (student kit, an input with no recorded answer): then only
    the returned value's type is checked; Gradescope checks the value.
    """
    if isinstance(returned, np.ndarray) and not judge.is_unknown(expected) \
            and returned.size > 4 * np.size(expected) + 4096:
        # Far too big to be the answer: said by its shape and dtype, never converted or shown
        # (a float64 copy of what a worker may send is the grader's memory, not the student's).
        fail(prop, inputs=inputs, hint=hint,
             detail=f"`{what}` returned an array of shape {returned.shape} and dtype {returned.dtype}; "
                    f"expected shape {np.shape(expected)}.")
    got = as_array(returned, what, prop, inputs)
    if second is not None and judge.recording():
        # The build records the kit's answers on the reference, where no value differs and
        # `second` would never run: run it now so that its expected values are in the kit too.
        try:
            second()
        except Exception:  # noqa: BLE001 - only recording; the check itself is unchanged
            pass
    if judge.is_unknown(expected):
        return got
    exp = np.asarray(expected, dtype=np.float64)
    for alternative in accept:
        if judge.is_unknown(alternative):
            continue
        alt = np.asarray(alternative, dtype=np.float64)
        if got.shape == alt.shape and np.allclose(got, alt, rtol=rtol, atol=atol):
            return got
    if got.shape != exp.shape:
        fail(prop, inputs=inputs,
             detail=f"`{what}` returned shape {got.shape}; expected shape {exp.shape}.\n\n"
                    f"Expected:\n{code_block(show(exp))}\nReturned:\n{code_block(show(got))}",
             hint=shape_hint(exp, got, batch) or hint)
    if classes is None and batch and exp.ndim == 2 and exp.shape[0] == batch:
        classes = exp.shape[1]
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(exp)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
        fail(prop, inputs=inputs,
             detail=f"`{what}` returned a non-finite value {got[bad]} at index {bad}; "
                    f"expected {exp[bad]:.8g}.\n\nReturned:\n{code_block(show(got))}",
             hint=nonfinite_hint or Hint(OBSERVATION, "inf or nan usually comes from an overflow in exp(), "
                                                      "a log of 0 or a division by 0."))
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
    recognised = value_hint(exp, got, batch, mistakes, rtol, atol, classes, second, ratios)
    if recognised is None or (mistake_of(recognised) in NEUTRAL and mistake_of(hint) not in (None, *NEUTRAL)):
        recognised = hint  # the test's own diagnosis beats a mere observation
    fail(prop, inputs=inputs, detail=detail, hint=recognised)
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


def _factor_meanings(c: float, batch: int | None, classes: int | None) -> list:
    """[(key, class, why)] for each size of the input (N, C, N*C) or constant (2) that the
    ratio c matches, as a factor or its inverse; `key` names the size, not its value."""
    sizes = []
    if batch and batch > 1:
        sizes.append(("N", batch, f"N = {batch} (the batch size)"))
    if classes and classes > 1:
        sizes.append(("C", classes, f"C = {classes} (the number of classes)"))
    if batch and classes and batch > 1 and classes > 1:
        sizes.append(("N*C", batch * classes, f"N*C = {batch * classes} (all entries)"))
    meanings = []
    for key, size, name in sizes:
        if np.isclose(c, size, rtol=1e-4):
            meanings.append((key, "batch-mean", f"{name} times too large: a sum where the mean is needed, or a "
                                                f"missing division by {key}"))
        if np.isclose(c, 1.0 / size, rtol=1e-4):
            meanings.append(("1/" + key, "batch-mean", f"{name} times too small: a mean where the sum is "
                                                       f"needed, or an extra division by {key}"))
    if batch and classes and batch > 1 and classes > 1 and batch != classes:
        # A mean over one axis where the other was meant: the sum divided by C instead of N.
        for ratio, why in ((batch / classes, "divided by C where the batch mean divides by N"),
                           (classes / batch, "divided by N where the mean over C is needed")):
            if np.isclose(c, ratio, rtol=1e-4):
                meanings.append(("N/C" if ratio == batch / classes else "C/N", "wrong-axis",
                                 f"N/C = {batch}/{classes} times the expected one: {why}, i.e. a mean "
                                 f"over the wrong axis" if ratio == batch / classes else
                                 f"C/N = {classes}/{batch} times the expected one: {why}, i.e. a mean "
                                 f"over the wrong axis"))
    for k in (2.0,):  # a constant seen on one input only: said, but not as a diagnosis
        if np.isclose(c, k, rtol=1e-4) or np.isclose(c, 1.0 / k, rtol=1e-4):
            meanings.append((f"{c:g}", OBSERVATION, f"{c:g} times the expected one: a missing or extra factor "
                                                    f"of {k:g}"))
    return meanings


def _key_ratio(key: str, batch: int, classes: int | None) -> float | None:
    """The ratio a meaning's key (N, 1/N, C, N*C, N/C, ...) stands for at these sizes."""
    sizes = {"N": batch, "C": classes, "N*C": batch * classes if classes else None,
             "N/C": batch / classes if classes else None, "C/N": classes / batch if classes else None}
    if key.startswith("1/"):
        size = sizes.get(key[2:])
        return 1.0 / size if size else None
    return sizes.get(key)


def factor_hint(c: float, batch: int | None, classes: int | None,
                second: Callable[[], tuple] | None = None) -> Hint:
    """What a ratio c between the returned and the expected values means, from the sizes of
    the input: N, C or N*C say "batch mean"; 2 is only an observation. When c matches more
    than one of them (a 2-row input makes N = 2), `second()` gives (expected, returned, N) at
    another batch size, and only the meanings that hold at both sizes are kept."""
    meanings = _factor_meanings(c, batch, classes)
    checked = ""
    if batch is not None and batch <= 1 and second is not None:
        # One row hides every factor of N (N = 1): what the ratio means is read at a second
        # batch size, and kept only when it also gives this input's ratio at N = 1.
        try:
            exp2, got2, batch2 = second()
            if judge.is_unknown(exp2) or batch2 <= 1:
                raise LookupError
            exp2, got2 = np.asarray(exp2, dtype=np.float64), np.asarray(got2, dtype=np.float64)
            c2 = _ratio(exp2, got2) if exp2.shape == got2.shape and (exp2.ndim == 0 or np.count_nonzero(exp2) >= 2) \
                else None
        except Exception:  # the student's code failed at the second size: keep what we know
            c2 = None
        if c2 is None:
            return Hint(OBSERVATION, f"on this input your result is {c:.6g} times the expected one.")
        classes2 = exp2.shape[1] if exp2.ndim == 2 and exp2.shape[0] == batch2 else classes
        meanings = [m for m in _factor_meanings(c2, batch2, classes2)
                    if _key_ratio(m[0], 1, classes) is not None and np.isclose(_key_ratio(m[0], 1, classes), c,
                                                                                 rtol=1e-4)]
        checked = f" (seen on a second input with N = {batch2}: on one row a factor of N does not show)"
    elif len({m[0] for m in meanings}) > 1 and second is not None:
        try:
            exp2, got2, batch2 = second()
            if judge.is_unknown(exp2):  # student kit: no recording at the second size
                raise LookupError
            exp2, got2 = np.asarray(exp2, dtype=np.float64), np.asarray(got2, dtype=np.float64)
            c2 = _ratio(exp2, got2) if exp2.shape == got2.shape and np.count_nonzero(exp2) >= 2 else None
        except Exception:  # the student's code failed at the second size: keep what we know
            c2 = None
        if c2 is not None:
            classes2 = exp2.shape[1] if exp2.ndim == 2 and exp2.shape[0] == batch2 else classes
            keys2 = {m[0] for m in _factor_meanings(c2, batch2, classes2)}
            meanings = [m for m in meanings if m[0] in keys2]
            checked = f" (checked again on a second input with N = {batch2})"
    if len(meanings) == 1:
        return Hint(meanings[0][1], f"your result is {meanings[0][2]}{checked}.")
    if len({m[1] for m in meanings}) == 1:  # e.g. N = C: a factor of either is the same kind of mistake
        return Hint(meanings[0][1], f"your result is {c:.6g} times the expected one, which on this input is "
                                    + " or ".join(why for _, _, why in meanings) + ".")
    if meanings:
        return Hint(OBSERVATION, f"your result is {c:.6g} times the expected one, which on this input fits more "
                                 f"than one mistake: " + "; or ".join(why for _, _, why in meanings)
                                 + ". A larger input would tell them apart.")
    return Hint(OBSERVATION, f"on this input your result is {c:.6g} times the expected one.")


def value_hint(exp: np.ndarray, got: np.ndarray, batch: int | None,
               mistakes: Mapping[str, Any] | None, rtol: float, atol: float,
               classes: int | None = None, second: Callable[[], tuple] | None = None,
               ratios: bool = True) -> str | None:
    matched = []
    for text, candidate in (mistakes or {}).items():
        if judge.is_unknown(candidate):
            continue
        cand = np.asarray(candidate, dtype=np.float64)
        if cand.shape == got.shape and np.allclose(got, cand, rtol=max(rtol, 1e-6), atol=max(atol, 1e-9)):
            matched.append(text)
    if len({mistake_of(text) for text in matched}) > 1:
        return None  # two kinds of mistake give this value on this input: nothing was observed
    one_row = batch is not None and batch <= 1 and second is not None
    if matched and not one_row:
        return matched[0]
    # On one row, a typical mistake that differs from the answer by a factor may be another
    # one whose factor involves N: the second batch size tells (factor_hint).
    # A ratio is a pattern only when several entries agree on it: any two numbers have one.
    # (A scalar's ratio says something only when a second batch size confirms it.)
    c = _ratio(exp, got) if ratios and (np.count_nonzero(exp) >= 2 or (
        second is not None and batch is not None and batch <= 1 and np.count_nonzero(exp) == 1)) else None
    if c is not None and not np.isclose(c, 1.0):
        if np.isclose(c, -1.0, rtol=1e-4):
            return Hint("sign", "your result has the wrong sign everywhere: check the sign of the formula.")
        if np.isclose(c, 0.0, atol=1e-12):
            return Hint(OBSERVATION, "your result is all zeros: is the computation missing, or overwritten?")
        found = factor_hint(c, batch, classes, second)
        if matched and mistake_of(found) in NEUTRAL:
            return matched[0]  # no factor of N at the second size: the listed mistake stands
        return found
    if matched:
        return matched[0]
    if exp.ndim == 2 and exp.shape[0] == exp.shape[1] and exp.shape[0] > 1 \
            and not np.allclose(exp, exp.T) and np.allclose(got, exp.T, rtol=1e-5, atol=1e-9):
        return Hint("transpose", "your result is the transpose of the expected one.")
    if exp.ndim == 3 and exp.shape[1] > 1 and not np.allclose(exp, np.swapaxes(exp, 1, 2)) \
            and np.allclose(got, np.swapaxes(exp, 1, 2), rtol=1e-5, atol=1e-9):
        return Hint("transpose", "each matrix in your result is transposed (the last two axes are swapped).")
    return None


def shape_hint(exp: np.ndarray, got: np.ndarray, batch: int | None) -> str | None:
    if got.ndim == exp.ndim and got.shape == exp.shape[::-1]:
        return Hint("transpose", "your result has the transposed shape: check the order of a matrix product "
                                 "or a `.T`.")
    if got.shape == (1, *exp.shape) and batch != 1:  # (on one row, an unsummed batch axis looks the same)
        return Hint("shape", "your result holds the expected array inside one more outer axis of length 1: "
                             "a list (or an extra pair of brackets) wrapped around the array?")
    if got.size == exp.size:
        return Hint("shape", "your result has the right number of entries but the wrong shape: "
                             "check a reshape, a missing `keepdims=True`, or the axis you reduce over.")
    if got.ndim == exp.ndim - 1:
        return Hint("shape", "your result has one axis fewer than expected: did you sum or average over "
                             "an axis you should keep?")
    if got.ndim == exp.ndim + 1:
        return Hint("shape", "your result has one axis more than expected: did you forget to sum over the batch?")
    if batch and exp.ndim and exp.shape[0] == batch and (not got.ndim or got.shape[0] != batch):
        return Hint("shape", "the first axis must be the batch: one row per example.")
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
             detail=f"`{what}` must return a list of {count}; yours returned "
                    f"{'None' if value is None else type(value).__name__} `{show(value)}`.",
             hint=(Hint("missing-return", "did you forget a `return` statement?") if value is None else
                   Hint("wrong-type", "gradient methods return a list, one entry per input (or per weight).")))
    if len(items) < count:
        fail(prop, inputs=inputs,
             detail=f"`{what}` returned a list of {len(items)}; expected at least {count}.",
             hint=Hint("shape", "return one gradient per input (or per weight), in order."))
    return items


def stopped_at_import(error: BaseException) -> bool:
    """Whether the student's crash is their code failing to import (a missing file, a module
    that raises at its top): the engine says that once, at the top of the results, so a test
    lets it through instead of making it a verdict on its input."""
    from autograder.plugin.outcome import import_failure
    return import_failure(error, None) is not None


def describe_error(error: BaseException) -> str:
    """A student's exception as Markdown, using the engine's rendering when it has one."""
    markdown = getattr(error, "markdown", None)
    if callable(markdown):
        try:
            return markdown()
        except Exception:  # a rendering problem must not hide the student's error
            pass
    return code_span(f"{type(error).__name__}: {error}")


def dims_text(shapes: Sequence[tuple]) -> str:
    return ", ".join(str(s) for s in shapes)
