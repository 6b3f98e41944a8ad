"""Family 10: [Q6] vectorisation. THE ONLY STYLE-SENSITIVE TEST: every other test accepts
any correct implementation, loops included; this one asks for speed.

The student's Dense and Softmax (forward, and the gradients the student writes) run on a
large batch in the student's worker; a vectorised NumPy baseline runs on the same data in a
fresh worker that never imported the student's code. The two alternate, best of several
runs. The trusted side measures each worker's CPU time from /proc around every call
(autograder/sandbox/cputime.py): the student's code cannot patch that clock, nor slow the
baseline down, and load from other processes does not stretch CPU time. Per part, credit is
full within FULL_FACTOR of the baseline, half within HALF_FACTOR; anything faster than
FLOOR_S counts as fast whatever the ratio, so tiny timings cannot make the test flaky. The
failure message is advice, not a verdict.
"""
import numpy as np
from gradescope_utils.autograder_utils.decorators import number, partial_credit, tags, visibility

from autograder.sandbox.cputime import cpu_seconds
from feedback import Hint, failure

N_ROWS, DENSE_IN, DENSE_OUT, CLASSES = 20000, 8, 4, 10
REPEATS = 5
BASELINE_RUNS = 10  # per call, so that a call's own cost (a fraction of a millisecond) hardly counts
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


def best_times(student, student_fn, baseline, baseline_runs):
    """(best student seconds, best baseline seconds) of one part, the two alternating.
    The student's function is called straight from here, once per call: a loop of ours in
    their worker would run on builtins their code may have replaced."""
    best_student = best_baseline = float("inf")
    for _ in range(REPEATS):
        best_student = min(best_student, cpu_seconds(student.pid, student_fn))
        best_baseline = min(best_baseline, cpu_seconds(baseline.pid, baseline_runs) / BASELINE_RUNS)
    return best_student, best_baseline


@partial_credit(POINTS)
@number("10.1")
@visibility("hidden")
@tags("q6", "vectorisation", "style-sensitive", "speed")
def test_q6_style_dense_and_softmax_are_vectorised(beras, student, sandbox, worker_side, add_output,
                                                   set_score=None):
    """[Q6] STYLE: Dense and Softmax vectorised (partial credit)"""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(N_ROWS, DENSE_IN))
    w, b = rng.normal(size=(DENSE_IN, DENSE_OUT)), np.zeros((1, DENSE_OUT))
    logits = rng.normal(size=(N_ROWS, CLASSES))
    theirs = worker_side("timing")
    with sandbox.worker() as clean:
        ours = worker_side("timing", clean)
        parts = {"Dense": (theirs.dense_parts(beras.layers.Dense, x, w, b), ours.dense_baselines(x, w, b)),
                 "Softmax": (theirs.softmax_parts(beras.activations.Softmax, logits), ours.softmax_baselines(logits))}
        measured = {}
        for layer, (student_parts, baselines) in parts.items():
            for part in ("forward", "gradients"):
                baseline_fn = baselines[part]
                measured[(layer, part)] = best_times(student, student_parts[part],
                                                     clean, lambda: ours.repeat(baseline_fn, BASELINE_RUNS))
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
