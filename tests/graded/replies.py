"""fetch(): what a test reads back from the student's code, within a size budget set by the
shapes the test expects (the trusted side stays bounded whatever the student returns).

    returned = fetch(layer(x), x.shape)                          # an array shaped like x
    grads = fetch(dense.get_weight_gradients(), (n, m, r), (n, 1, r))  # the largest variants accepted
    flag = fetch(builtins.isinstance(t, Tensor))                 # a few numbers, flags or ids

The budget is `autograder.sandbox.budget_for(*shapes)`: twice their bytes in float64
plus 64 KB, room for a float32 or float64 answer, a Tensor's wrapping, a list instead of an
array, and any wrong-but-small answer, whose shape the test's feedback then names. With no
shape, SMALL. A larger value is refused before any of it reaches the grader (the worker does
not send it; a worker that ignores the budget is refused from its reply's header), and the
test fails saying what it expected and that the value was too large to read.
"""
from __future__ import annotations

import numpy as np

from autograder.sandbox import TooLarge, budget_for, fetch as fetch_from_worker

# For numbers, flags, ids, short lists and names: what a test reads when it expects no array.
SMALL = 64 * 1024


def budget(*shapes) -> int:
    """The bytes a reply may take when the test expects arrays of `shapes` (none: SMALL)."""
    return budget_for(*shapes) if shapes else SMALL


def fetch(value, *shapes):
    """`value` (a Remote, or plain data holding Remotes) as plain data, read only if it fits
    the budget of `shapes`: the shapes of the arrays the test expects back, each a tuple (or
    an int, a flat length). A larger value fails the test in plain words."""
    shapes = tuple((int(s),) if isinstance(s, (int, np.integer)) else tuple(int(d) for d in s) for s in shapes)
    try:
        return fetch_from_worker(value, budget=budget(*shapes))
    except TooLarge as refused:
        raise TooLarge(refused.type_name, f"{refused.message}. {expectation(shapes)} A value this "
                       f"large cannot be the answer, so the grader did not read it.",
                       refused.frames, refused.output, refused.test_code) from None


def expectation(shapes: tuple) -> str:
    if not shapes:
        return "The test expects a few numbers here (or flags, names, short lists), not a large array."
    if len(shapes) == 1:
        return f"The test expects an array of shape {shapes[0]}."
    return f"The test expects arrays of shapes {', '.join(str(s) for s in shapes)} (at most)."
