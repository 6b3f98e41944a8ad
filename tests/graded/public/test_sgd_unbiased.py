"""Family 9: SGD with batch size 1 is unbiased [more bonus 2] (exact form).

The mean, over all examples, of the single-example gradients must equal the full-batch
gradient: that is what makes a uniformly drawn example an unbiased estimate. The layer, the
softmax and the (batch-mean) cross-entropy are test-provided; the gradients come from the
student's GradientTape (sgd.py), so a loss bug costs the loss tests, not these.
"""
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given

import judge
import numerics as M
import strategies as S
from feedback import expect_close
from sgd import per_example_gradients, problem, weight_gradient


@weight(2)
@number("9.1")
@visibility("visible")
@tags("sgd", "unbiased", "bonus-more-2", "gradient-tape")
@given(n=S.dim(2, 6), m=S.dim(1, 3), classes=S.dim(2, 4), seed=S.dim(0, 1000))
def test_mean_of_single_example_gradients_is_the_full_gradient(beras, worker_side, n, m, classes, seed):
    """[More bonus 2] mean of batch-1 gradients = full gradient"""
    x, W, Y = problem(seed, n, m, classes)
    inputs = {"x": x, "W": W, "Y": Y, "model": "P = softmax(x @ W), loss = mean cross-entropy (ours), gradients from your GradientTape"}
    singles = per_example_gradients(beras, worker_side, x, W, Y, inputs)
    full = weight_gradient(beras, worker_side, x, W, Y, inputs)
    if not (judge.known(singles) and judge.known(full)):
        return  # student kit, a problem with no recorded values: checked on Gradescope
    expect_close("[More bonus 2] The mean of the N single-example gradients (batch size 1) equals the "
                 "full-batch gradient, so SGD with batch size 1 is unbiased.",
                 expected=singles.mean(axis=0), returned=full, what="the full-batch gradient dL/dW",
                 inputs=inputs, batch=n, **M.GRADIENT, second=lambda: at_batch(beras, worker_side, n + 1, m, classes, seed))


def at_batch(beras, worker_side, n, m, classes, seed):
    """(mean of single-example gradients, full-batch gradient, n) for the problem at batch size n."""
    x, W, Y = problem(seed, n, m, classes)
    inputs = {"x": x, "W": W, "Y": Y}
    singles = per_example_gradients(beras, worker_side, x, W, Y, inputs)
    return judge.apply(lambda s: s.mean(axis=0), singles), weight_gradient(beras, worker_side, x, W, Y, inputs), n
