"""Family 10: [Q6] vectorisation. THE ONLY STYLE-SENSITIVE TEST: every other test accepts
any correct implementation, loops included; this one asks for speed.

Four parts, a quarter of the points each: Dense's forward, Dense's gradients, Softmax's
forward, Softmax's Jacobian. Each repetition sends fresh inputs (never seen before, so a
cache of results gains nothing) to the student's layer, in the student's worker, and, in a
fresh worker that never imported the student's code, to a yardstick: ordinary whole-array
NumPy work of the same sizes (worker_side/timing.py, public). The grader reads CPU time from
the kernel around each call (autograder/sandbox/grader/cputime.py): for the student, every process
of the grading's sandbox user, so work handed to a helper process counts; for the yardstick,
its worker alone. The call includes reading every value of the result (a digest of it): a
result that is wrong earns nothing, and one computed later or elsewhere is timed anyway.

The decision rests on a gap that noise cannot cross. Per row, a Python loop pays the
interpreter (some hundreds of nanoseconds at the very least, whatever the loop does), while
whole-batch code pays NumPy's per-element cost, a few nanoseconds; on narrow rows (4 -> 2 for
Dense, 3 classes for Softmax), 40,000 of them, that is a gap of 5x to 100x. Each part's time
(the median of REPEATS runs, after a warm-up run) is divided by the yardstick's and by
VECTORISED_COST, what whole-batch code of that part costs in yardsticks: vectorised code then
measures 0.25 to 1, loops over rows 5 to 60, on an idle machine as at a load of 10 on 2 cores
(README, "Validation figures"). Up to FAST is vectorised, from SLOW on a loop; a ratio in
between (the dead zone, where no code we know of lands) takes REPEATS more runs, and then the
midpoint decides. The output holds no measured figure: the same code gets the same text.
"""
import math

import numpy as np
from gradescope_utils.autograder_utils.decorators import number, partial_credit, tags, visibility

from autograder.sandbox import StudentError, WorkerTimeout
from replies import fetch
from autograder.sandbox import cputime
import judge
from feedback import Hint, failure

N_ROWS, DENSE_IN, DENSE_OUT, CLASSES = 40000, 4, 2, 3
YARDSTICK_DIGESTS = 3  # the most a yardstick of worker_side/timing.py returns
REPEATS = 5
POINTS = 3
PARTS = (("Dense", "forward"), ("Dense", "gradients"), ("Softmax", "forward"), ("Softmax", "gradients"))
# What whole-batch code of each part costs, in yardsticks of that part (measured in the sandbox):
# the reference for the forwards and the Jacobian, and for Dense's gradients an (N, m, r) copy
# (np.tile), which costs twice the reference's (N, m, 1) view.
VECTORISED_COST = {("Dense", "forward"): 1.8, ("Dense", "gradients"): 0.7,
                   ("Softmax", "forward"): 1.45, ("Softmax", "gradients"): 2.6}
# Up to FAST is vectorised, from SLOW on a loop; in between (the dead zone) REPEATS more runs,
# then the midpoint decides.
FAST, SLOW = 1.8, 3.0
DIGEST_RTOL = 1e-5

ADVICE = {
    ("Dense", "forward"): "one matrix product for the whole batch, and the bias added by broadcasting; no loop over rows.",
    ("Dense", "gradients"): "give dW for every sample at once: a new axis (np.newaxis) turns the (N, m) inputs into "
                            "N columns of shape (m, 1) without a loop.",
    ("Softmax", "forward"): "apply exp, max and sum along the last axis (keepdims=True), for all rows at once.",
    ("Softmax", "gradients"): "build all N Jacobians in one step by broadcasting: an (N, n, 1) view of the outputs "
                              "against an (N, 1, n) one gives one n x n matrix per row.",
}


class Part:
    """One timed part: the student's CPU seconds and the yardstick's, run by run."""

    def __init__(self, layer, part):
        self.key = (layer, part)
        self.student, self.yardstick = [], []
        self.problem = None  # why it earns nothing whatever its speed (a crash, a wrong result)

    def ratio(self):
        """The student's median CPU time over the median time of whole-batch code of this part."""
        vectorised = VECTORISED_COST[self.key] * float(np.median(self.yardstick))
        return float(np.median(self.student)) / max(vectorised, 1e-9)

    def decided(self):
        return self.problem is not None or not FAST < self.ratio() < SLOW

    def settle(self):
        """A part that was never timed (its forward failed first) earns nothing either."""
        if self.problem is None and not (self.student and self.yardstick):
            self.problem = "untimed"

    def vectorised(self):
        if self.problem is not None:
            return False
        ratio = self.ratio()
        return ratio <= FAST or (ratio < SLOW and ratio <= math.sqrt(FAST * SLOW))


def expected_as(shape, expected):
    """`expected` in the shape the student returned, when that shape holds the same values
    (the given compose code broadcasts (N, m, 1) like (N, m, r), (r,) like (1, r), and a
    per-sample copy of a shared gradient like the gradient); else None."""
    shape = tuple(shape)
    try:
        common = np.broadcast_shapes(shape, expected.shape)
    except ValueError:
        return None
    if common == shape:
        return np.broadcast_to(expected, shape)
    if common == expected.shape:  # the student's array broadcasts up to ours: it must repeat
        lead = expected.ndim - len(shape)
        index = tuple(0 if i < lead else slice(0, 1) if shape[i - lead] == 1 else slice(None)
                      for i in range(expected.ndim))
        reduced = expected[index]
        if np.allclose(np.broadcast_to(reduced, expected.shape), expected, rtol=0, atol=0):
            return reduced
    return None


def digest_of(values, seed):
    rows = np.asarray(values, dtype=np.float64).reshape((values.shape[0] if values.ndim else 1), -1)
    return rows @ np.random.default_rng(seed).standard_normal(rows.shape[1])


def agrees(returned, expected, seed):
    """Does the worker's digest [shape, row projections] match our expected values? What came
    back is data the student's code may have shaped: anything malformed, or a shape far larger
    than any right answer, is simply not a match."""
    expected = np.asarray(expected, dtype=np.float64)
    try:
        shape, projections = returned
        shape = tuple(int(d) for d in shape)
        if math.prod(shape) > max(expected.size, N_ROWS * 64):
            return False
        ours = expected_as(shape, expected)
        if ours is None:
            return False
        want = digest_of(ours, seed)
        projections = np.asarray(projections, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return False
    scale = 1.0 + float(np.max(np.abs(want))) if want.size else 1.0
    return projections.shape == want.shape and bool(np.allclose(projections, want, rtol=DIGEST_RTOL,
                                                                atol=DIGEST_RTOL * scale))


class Timing:
    """Runs the repetitions: student and yardstick alternate, each on fresh inputs."""

    def __init__(self, beras, student, clean, theirs, ours):
        self.beras, self.theirs, self.ours = beras, theirs, ours
        self.student_scope = cputime.everything_of(student.pid)  # every process of the sandbox user
        self.ours_scope = cputime.own_tree(clean.pid)            # our worker alone
        self.rng = np.random.default_rng(6)
        self.parts = {key: Part(*key) for key in PARTS}

    def warm_up(self, layer):
        """One round whose times are dropped: first calls pay for pages, caches and lazy imports."""
        self.run(layer, 1)
        for what in ("forward", "gradients"):
            self.parts[(layer, what)].student.clear()
            self.parts[(layer, what)].yardstick.clear()

    def run(self, layer, rounds):
        forward, gradients = self.parts[(layer, "forward")], self.parts[(layer, "gradients")]
        for _ in range(rounds):
            if forward.problem is not None:
                return
            (self._dense_round if layer == "Dense" else self._softmax_round)(forward, gradients)

    def _dense_round(self, forward, gradients):
        x = self.rng.normal(size=(N_ROWS, DENSE_IN))
        w, b = self.rng.normal(size=(DENSE_IN, DENSE_OUT)), self.rng.normal(size=(1, DENSE_OUT))
        layer = self._make(forward, lambda: self.theirs.dense_layer(self.beras.layers.Dense, self.beras.core.Variable,
                                                                    w, b))
        if layer is not None:
            self._student(layer, x, forward, [judge.value("dense", x, w, b)], gradients,
                          [judge.value("dense_input_jacobian", x, w, b), judge.value("dense_weight_jacobian", x, w, b),
                           judge.value("dense_bias_jacobian", x, w, b)])
        ours = self.rng.normal(size=(N_ROWS, DENSE_IN))
        self._yardstick(forward, lambda seed: self.ours.yardstick_forward(ours, w, seed))
        staged = self.ours.keep(ours)  # the gradients' inputs are in the worker already, as the student's are
        self._yardstick(gradients, lambda seed: self.ours.yardstick_dense_gradients(staged, w, seed))

    def _softmax_round(self, forward, gradients):
        logits = 2.0 * self.rng.normal(size=(N_ROWS, CLASSES))
        layer = self._make(forward, lambda: self.beras.activations.Softmax())
        if layer is not None:
            self._student(layer, logits, forward, [judge.value("softmax", logits)], gradients,
                          [judge.value("softmax_jacobian", logits)])
        ours = 2.0 * self.rng.normal(size=(N_ROWS, CLASSES))
        self._yardstick(forward, lambda seed: self.ours.yardstick_rows(ours, seed))
        staged = self.ours.keep(judge.value("softmax", ours))
        self._yardstick(gradients, lambda seed: self.ours.yardstick_pairs(staged, seed))

    def _make(self, part, make):
        try:
            return make()
        except StudentError as error:
            part.problem = error
            return None

    def _student(self, layer, x, forward, forward_expected, gradients, gradients_expected):
        seed = self._seed()
        if self._measure(forward, lambda: self.theirs.forward(layer, x, seed), forward_expected, seed) \
                and gradients.problem is None:
            seed = self._seed()
            self._measure(gradients, lambda: self.theirs.gradients(layer, seed), gradients_expected, seed)

    def _measure(self, part, call, expected, seed):
        """Time one call of the student's part; False when it raised or returned wrong values."""
        try:
            seconds, digests = self._timed(self.student_scope, call, len(expected))
        except StudentError as error:
            part.problem = error
            return False
        part.student.append(seconds)
        if not isinstance(digests, (list, tuple)) or len(digests) != len(expected) \
                or not all(agrees(d, e, seed + i) for i, (d, e) in enumerate(zip(digests, expected))):
            part.problem = "wrong"
            return False
        return True

    def _yardstick(self, part, call):
        seconds, _ = self._timed(self.ours_scope, lambda: call(self._seed()), YARDSTICK_DIGESTS)
        part.yardstick.append(seconds)

    def _seed(self):
        return int(self.rng.integers(1 << 60))

    @staticmethod
    def _timed(scope, call, digests):
        """(CPU seconds of `scope` while `call()` ran and its `digests` were fetched, the digests)."""
        result = []
        seconds = cputime.cpu_seconds(scope, lambda: result.append(fetch(call(), *[(N_ROWS,)] * digests)))
        return seconds, result[0]


def verdict_line(part):
    layer, what = part.key
    if isinstance(part.problem, WorkerTimeout):
        return (f"- {layer} {what}: ran out of time on {N_ROWS:,} rows, as a loop over the rows may. "
                f"Try this: {ADVICE[part.key]}")
    if isinstance(part.problem, StudentError):
        return (f"- {layer} {what}: not timed, it raised `{part.problem.type_name}` (its own tests show where).")
    if part.problem == "untimed":
        return f"- {layer} {what}: not timed, as its forward did not run correctly here."
    if part.problem == "wrong":
        return (f"- {layer} {what}: not timed, it returned values that differ from the expected ones on a batch of "
                f"{N_ROWS:,} rows (its own tests show a smaller case).")
    return (f"- {layer} {what}: several times the time of whole-batch NumPy code doing the same, as a loop over the "
            f"rows costs. Try this: {ADVICE[part.key]}")


@partial_credit(POINTS)
@number("10.1")
@visibility("hidden")
@tags("q6", "vectorisation", "style-sensitive", "speed")
def test_q6_style_dense_and_softmax_are_vectorised(beras, student, sandbox, worker_side, add_output,
                                                   set_score=None):
    """[Q6] STYLE: Dense and Softmax vectorised (partial credit)"""
    theirs = worker_side("timing")
    with sandbox.worker() as clean:
        timing = Timing(beras, student, clean, theirs, worker_side("timing", clean))
        for layer in ("Dense", "Softmax"):
            timing.warm_up(layer)
            timing.run(layer, REPEATS)
            if not all(timing.parts[(layer, what)].decided() for what in ("forward", "gradients")):
                timing.run(layer, REPEATS)  # the dead zone: more runs, then the midpoint decides
    parts = list(timing.parts.values())
    for part in parts:
        part.settle()
    fast = [p for p in parts if p.vectorised()]
    set_score(POINTS * len(fast) / len(parts))
    if len(fast) == len(parts):
        add_output(f"[Q6] On a batch of {N_ROWS:,} rows, your Dense and Softmax (forward and gradients) run in about "
                   f"the time of whole-array NumPy work of the same size: vectorised.")
        return
    lost = [p for p in parts if not p.vectorised()]
    slow = [p for p in lost if p.problem is None or isinstance(p.problem, WorkerTimeout)]
    if slow:
        headline = (f"[Q6] Vectorised code is much faster than Python loops (and is what makes GPUs pay off). On a "
                    f"batch of {N_ROWS:,} rows, some parts of your Dense and Softmax take far longer than whole-batch "
                    f"NumPy code doing the same. This is the only test that grades style; your results are correct "
                    f"or not according to the other tests.")
    else:  # nothing was slow: a hint about loops would point at the wrong cause
        headline = (f"[Q6] Only correct results are timed here: on a batch of {N_ROWS:,} rows, parts of your Dense "
                    f"and Softmax raised or returned wrong values, so their speed earns nothing yet. Their own tests "
                    f"show what to fix.")
    raise failure(headline, detail="\n".join(verdict_line(p) for p in lost),
                  hint=Hint("slow", "replace loops over the rows of the batch by array operations on the whole "
                                    "batch.") if slow else None)
