"""Family 10: [Q6] vectorisation. THE ONLY STYLE-SENSITIVE TEST: every other test accepts
any correct implementation, loops included; this one asks for speed.

The student's Dense and Softmax (forward, and the gradients the student writes) run on a
large batch, timed against a vectorised NumPy baseline in the same worker process, best of
several runs, interleaved (worker_side/timing.py). Machine speed and load cancel out of the
ratio. Per part, credit is full within FULL_FACTOR of the baseline, half within
HALF_FACTOR; anything faster than FLOOR_S counts as fast whatever the ratio, so tiny
timings cannot make the test flaky. The failure message is advice, not a verdict.
"""
import numpy as np
from gradescope_utils.autograder_utils.decorators import number, partial_credit, tags, visibility

from autograder.sandbox import fetch
from feedback import Hint, failure

N_ROWS, DENSE_IN, DENSE_OUT, CLASSES = 20000, 8, 4, 10
REPEATS = 5
FULL_FACTOR, HALF_FACTOR = 5.0, 25.0
FLOOR_S = 0.003
POINTS = 3

ADVICE = {
    ("Dense", "forward"): "compute `x @ w + b` for the whole batch at once; no loop over rows.",
    ("Dense", "gradients"): "build dW for all samples at once, e.g. `x[:, :, np.newaxis]` (shape (N, m, 1)).",
    ("Softmax", "forward"): "apply exp, max and sum along axis -1 with keepdims=True, for all rows at once.",
    ("Softmax", "gradients"): "build all N Jacobians at once: `y[:, :, None] * np.eye(n) - y[:, :, None] * y[:, None, :]`.",
}


def credit(student_s, baseline_s):
    if student_s <= FLOOR_S or student_s <= FULL_FACTOR * baseline_s:
        return 1.0
    if student_s <= HALF_FACTOR * baseline_s:
        return 0.5
    return 0.0


@partial_credit(POINTS)
@number("10.1")
@visibility("hidden")
@tags("q6", "vectorisation", "style-sensitive", "speed")
def test_q6_style_dense_and_softmax_are_vectorised(beras, worker_side, add_output, set_score=None):
    """[Q6] STYLE: Dense and Softmax vectorised (partial credit)"""
    rng = np.random.default_rng(6)
    timing = worker_side("timing")
    x = rng.normal(size=(N_ROWS, DENSE_IN))
    w, b = rng.normal(size=(DENSE_IN, DENSE_OUT)), np.zeros((1, DENSE_OUT))
    logits = rng.normal(size=(N_ROWS, CLASSES))
    measured = {("Dense", part): times
                for part, times in fetch(timing.time_dense(beras.layers.Dense, x, w, b, REPEATS)).items()}
    measured.update({("Softmax", part): times
                     for part, times in fetch(timing.time_softmax(beras.activations.Softmax, logits, REPEATS)).items()})
    credits = {key: credit(*times) for key, times in measured.items()}
    set_score(POINTS * sum(credits.values()) / len(credits))
    slow = [key for key, c in credits.items() if c < 1]
    if not slow:
        # No measured figure here: timings vary, and the same submission must get the same results.json.
        add_output(f"[Q6] On a batch of {N_ROWS:,} rows, your Dense and Softmax run within {FULL_FACTOR:g}x the time "
                   f"of a vectorised NumPy version measured in the same run: vectorised.")
        return
    lines = [f"- {layer} {part}: {s * 1000:.1f} ms, {s / max(base, 1e-9):.0f}x a vectorised version "
             f"({base * 1000:.2f} ms). Try this: {ADVICE[(layer, part)]}"
             for (layer, part), (s, base) in measured.items() if (layer, part) in slow]
    raise failure(
        f"[Q6] Vectorised code is much faster than Python loops (and is what makes GPUs pay off). On a "
        f"batch of {N_ROWS:,} rows, parts of your code take more than {FULL_FACTOR:g}x the time of a "
        f"vectorised NumPy version measured in the same run. This is the only test that grades style; "
        f"your results are correct or not according to the other tests.",
        detail="\n".join(lines),
        hint=Hint("slow", "replace loops over the rows of the batch by array operations on the whole batch."))
