"""Family 9: SGD with batch size 1 is unbiased [more bonus 2] (exact form).

The mean, over all examples, of the single-example gradients must equal the full-batch
gradient: that is what makes a uniformly drawn example an unbiased estimate. The layer, the
softmax and the (batch-mean) cross-entropy are test-provided; the gradients come from the
student's GradientTape (sgd.py), so a loss bug costs the loss tests, not these.

Both sides of the equality are checked against the grader's own dL/dW (sgd.true_gradient),
never only against each other: a tape that returns zeros of the right shape satisfies
"mean of zeros = zeros" and must still earn nothing.
"""
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given

import judge
import numerics as M
import strategies as S
from feedback import expect_close
from sgd import per_example_gradients, problem, true_gradient, weight_gradient

MODEL = "P = softmax(x @ W), loss = mean cross-entropy (ours), gradients from your GradientTape"
FULL = ("[More bonus 2] Your GradientTape's gradient of the batch-mean loss with respect to W (the "
        "full-batch gradient) is dL/dW, as the grader computes it.")
MEAN = ("[More bonus 2] The mean of the N single-example gradients (batch size 1) equals the full-batch "
        "gradient dL/dW, so SGD with batch size 1 is unbiased.")


@weight(2)
@number("9.1")
@visibility("visible")
@tags("sgd", "unbiased", "bonus-more-2", "gradient-tape")
@given(n=S.dim(2, 6), m=S.dim(1, 3), classes=S.dim(2, 4), seed=S.dim(0, 1000))
def test_mean_of_single_example_gradients_is_the_full_gradient(beras, worker_side, n, m, classes, seed):
    """[More bonus 2] mean of batch-1 gradients = full gradient"""
    x, W, Y = problem(seed, n, m, classes)
    inputs = {"x": x, "W": W, "Y": Y, "model": MODEL}
    expected = true_gradient(x, W, Y)
    full = weight_gradient(beras, worker_side, x, W, Y, inputs)
    if not judge.known(full):
        return  # student kit, a problem with no recorded values: checked on Gradescope
    expect_close(FULL, expected=expected, returned=full, what="the full-batch gradient dL/dW",
                 inputs=inputs, batch=n, **M.GRADIENT,
                 second=lambda: at_batch(beras, worker_side, n + 1, m, classes, seed, single=False))
    singles = per_example_gradients(beras, worker_side, x, W, Y, inputs)
    if not judge.known(singles):
        return
    expect_close(MEAN, expected=expected, returned=singles.mean(axis=0),
                 what="the mean of the single-example gradients", inputs=inputs, batch=n, **M.GRADIENT,
                 second=lambda: at_batch(beras, worker_side, n + 1, m, classes, seed, single=True))


def at_batch(beras, worker_side, n, m, classes, seed, single):
    """(the grader's dL/dW, the student's mean of single-example gradients or full-batch
    gradient, n) for the problem at batch size n."""
    x, W, Y = problem(seed, n, m, classes)
    inputs = {"x": x, "W": W, "Y": Y}
    if single:
        returned = judge.apply(lambda s: s.mean(axis=0), per_example_gradients(beras, worker_side, x, W, Y, inputs))
    else:
        returned = weight_gradient(beras, worker_side, x, W, Y, inputs)
    return true_gradient(x, W, Y), returned, n
