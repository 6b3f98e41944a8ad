"""Family 9: SGD with batch size 1 is unbiased [more bonus 2] (exact form).

The mean, over all examples, of the single-example gradients must equal the full-batch
gradient: that is what makes a uniformly drawn example an unbiased estimate. It fails when
the loss's gradient does not carry the 1/N of the batch mean.
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
@tags("sgd", "unbiased", "bonus-more-2")
@given(n=S.dim(2, 6), m=S.dim(1, 3), classes=S.dim(2, 4), seed=S.dim(0, 1000))
def test_mean_of_single_example_gradients_is_the_full_gradient(beras, n, m, classes, seed):
    """[More bonus 2] mean of batch-1 gradients = full gradient"""
    x, W, Y = problem(seed, n, m, classes)
    inputs = {"x": x, "W": W, "Y": Y, "model": "P = softmax(x @ W), loss = your CategoricalCrossEntropy"}
    singles = per_example_gradients(beras, x, W, Y, inputs)
    full = weight_gradient(beras, x, W, Y, inputs)
    if not (judge.known(singles) and judge.known(full)):
        return  # student kit, a problem with no recorded Jacobians: checked on Gradescope
    expect_close("[More bonus 2] The mean of the N single-example gradients (batch size 1) equals the "
                 "full-batch gradient, so SGD with batch size 1 is unbiased.",
                 expected=singles.mean(axis=0), returned=full, what="the full-batch gradient dL/dW",
                 inputs=inputs, batch=n, **M.GRADIENT)
