"""Family 9: SGD with batch size 1 is unbiased [more bonus 2], by sampling.

Draw K examples uniformly (with replacement); the mean of their single-example gradients
must be close to the full-batch gradient. As in 9.1, the layer, softmax and loss are
test-provided and the gradients come from the student's GradientTape (sgd.py).

Statistics. For a correct loss every entry of a single-example gradient x_i (P - Y)_j lies in
[-1, 1] (x in [0, 1]), and the K draws are independent with mean equal to the full-batch
gradient. Hoeffding's inequality bounds each of the d = m*C entries:
    P(|mean - full| >= t) <= 2 exp(-2 K t^2 / 2^2),
so with t = 2 sqrt(ln(2 d / 1e-6) / (2 K)) and a union bound over the d entries, a correct
solution fails with probability at most 1e-6. The draws use a fixed seed, so the grade is
reproducible. Drawing K examples with replacement is the same as drawing how many times
each example is drawn (multinomial counts), so each example's gradient is computed once.

The sampled mean is compared with the grader's own full-batch dL/dW (sgd.true_gradient), and
so is the full-batch gradient the student's tape returns: the student is never compared only
with the student (a tape returning zeros of the right shape agrees with itself).
"""
import numpy as np
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight

import numerics as M
from feedback import REMINDER, Hint, expect, expect_close
from sgd import per_example_gradients, problem, true_gradient, weight_gradient

N, M_FEATURES, CLASSES, DRAWS, SEED = 60, 3, 4, 20000, 2024
FALSE_FAILURE_RATE = 1e-6


@weight(2)
@number("9.2")
@visibility("hidden")
@tags("sgd", "unbiased", "bonus-more-2", "statistical", "gradient-tape")
def test_sgd_batch_one_is_unbiased_by_sampling(beras, worker_side):
    """[More bonus 2] SGD batch 1 unbiased by sampling"""
    x, W, Y = problem(SEED, N, M_FEATURES, CLASSES)
    inputs = {"examples": N, "features": M_FEATURES, "classes": CLASSES, "draws": DRAWS,
              "model": "P = softmax(x @ W), loss = mean cross-entropy (ours), gradients from your GradientTape"}
    truth = true_gradient(x, W, Y)
    full = weight_gradient(beras, worker_side, x, W, Y, inputs)
    expect_close("[More bonus 2] Your GradientTape's full-batch gradient of the batch-mean loss with respect "
                 "to W is dL/dW, as the grader computes it.", expected=truth, returned=full,
                 what="the full-batch gradient dL/dW", inputs=inputs, batch=N, **M.GRADIENT)
    singles = per_example_gradients(beras, worker_side, x, W, Y, inputs)
    counts = np.random.default_rng(SEED).multinomial(DRAWS, np.full(N, 1.0 / N))
    estimate = np.tensordot(counts, singles, axes=(0, 0)) / DRAWS
    d = truth.size
    bound = 2.0 * np.sqrt(np.log(2 * d / FALSE_FAILURE_RATE) / (2 * DRAWS))
    worst = np.unravel_index(int(np.argmax(np.abs(estimate - truth))), truth.shape)
    ratio = float(np.sum(truth * estimate) / max(np.sum(estimate * estimate), 1e-300))
    expect(np.all(np.abs(estimate - truth) < bound),
           f"[More bonus 2] The average gradient of {DRAWS:,} uniformly drawn single examples is within "
           f"{bound:.3f} of the full-batch gradient dL/dW in every entry (a correct solution fails this check "
           f"with probability at most 1e-6).",
           inputs=inputs,
           detail=f"At {tuple(int(i) for i in worst)}: sampled mean {estimate[worst]:.5f}, full-batch "
                  f"gradient {truth[worst]:.5f}.",
           hint=Hint(REMINDER, f"the full-batch gradient is about {ratio:.3g} times your sampled one: compare "
                               "the gradient your tape returns for one example with that example's share of "
                               "the batch's gradient."))
