"""Family 4: losses (beras/losses.py), and seed question 1 (softmax + cross-entropy).

Probabilities fed to cross-entropy are at least 0.01/6, far from its clip (1e-15 to 1e-7),
so any valid clip constant gives the same values and gradients.
"""
import numpy as np
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given
from hypothesis import strategies as st

import judge
import numerics as M
import strategies as S
from replies import fetch
from feedback import Hint, expect_close, gradient_list

# Seed question 1 states exact identities; in float64 they hold to rounding (~1e-15).
Q1_FLOAT64 = dict(rtol=0.0, atol=1e-10)
# A student computing in float32 gets ~1e-7 relative; see numerics.tolerance_for.
Q1_FLOAT32 = dict(rtol=1e-5, atol=1e-6)


@st.composite
def regression_case(draw):
    shape = draw(S.batch_shape())
    return {"y_pred": draw(S.array(shape)), "y_true": draw(S.array(shape))}


@st.composite
def classification_case(draw, min_classes=2):
    shape = draw(S.batch_shape(min_dim=min_classes))
    return {"y_pred": draw(S.probabilities(shape)), "y_true": draw(S.one_hot(*shape))}


def all_zeros_shaped_like(value, like):
    """Zeros shaped like y_true: a right gradient w.r.t. y_true for this homework (three of five
    real submissions return it; labels are never tape sources, so it never reaches training)."""
    value = np.asarray(value)
    return value.dtype.kind in "biuf" and value.size == np.size(like) and not np.any(value)


def one_row_more(*arrays):
    """The arrays with their first row repeated at the end: the same case at batch size N + 1,
    so that a factor of N can be told from a constant factor."""
    return [np.concatenate([a, a[:1]]) for a in arrays]


def loss_gradient_at(loss_class, loss_name, y_pred, y_true, position=0):
    """() -> (finite differences of the judge's loss `loss_name`, the student's gradient, N + 1)
    at one row more (see expect_close)."""
    def second():
        yp, yt = one_row_more(y_pred, y_true)
        if judge.recording():  # the kit may show this case itself (a failure that needs two
            # rows is first seen here): the build records its own second size as well
            judge.fd_gradient(loss_name, *one_row_more(yp, yt), wrt=position)
        loss = loss_class()
        loss(yp, yt)
        got = fetch(loss.get_input_gradients(), yp.shape, yt.shape)[position]
        return judge.fd_gradient(loss_name, yp, yt, wrt=position), got, len(yp)
    return second


def loss_value_at(loss_class, loss_name, y_pred, y_true):
    """() -> (the judge's loss `loss_name`, the student's loss, N + 2) with the first row
    twice more (see expect_close): on one row, a factor of N cannot show."""
    def second():
        yp, yt = (np.concatenate([a, a[:1], a[:1]]) for a in (y_pred, y_true))
        if judge.recording():  # the kit may show this case itself: record its second size too
            judge.value(loss_name, *(np.concatenate([a, a[:1], a[:1]]) for a in (yp, yt)))
        return judge.value(loss_name, yp, yt), scalar(fetch(loss_class()(yp, yt))), len(yp)
    return second


def shapes_of(case):
    """The shapes of a loss's inputs, which its gradients have."""
    return case["y_pred"].shape, case["y_true"].shape


def scalar(value):
    return float(np.asarray(value, dtype=float).reshape(-1)[0]) if np.size(value) == 1 else np.asarray(value, dtype=float)


@weight(2)
@number("4.1")
@visibility("visible")
@tags("losses", "mse")
@given(case=regression_case())
def test_mse_value(beras, case):
    """MSE value"""
    yp, yt = case["y_pred"], case["y_true"]
    n, c = yp.shape
    expect_close("`MeanSquaredError()(y_pred, y_true)` is the mean of (y_pred - y_true)^2 over all N*C entries.",
                 expected=judge.value("mse", yp, yt), returned=scalar(fetch(beras.losses.MeanSquaredError()(yp, yt))),
                 what="MeanSquaredError()(y_pred, y_true)", inputs=case, **M.VALUE,
                 mistakes={Hint("batch-mean", "you summed the squared errors; take their mean over all N*C entries."):
                           judge.value("squared_error_sum", yp, yt),
                           Hint("batch-mean", "you divided by N only; the mean is over all N*C entries."):
                           judge.value("squared_error_over_n", yp, yt),
                           Hint("shape", "you returned one value per row; the loss is a single number."):
                           judge.value("squared_error_row_means", yp, yt),
                           Hint("wrong-formula", "you forgot to square the differences."):
                           judge.value("error_mean_unsquared", yp, yt)})


@weight(2)
@number("4.2")
@visibility("visible")
@tags("losses", "mse", "gradients")
@given(case=regression_case())
def test_mse_gradient(beras, case):
    """MSE gradient vs FD"""
    yp, yt = case["y_pred"], case["y_true"]
    n, c = yp.shape
    loss = beras.losses.MeanSquaredError()
    loss(yp, yt)
    prop = ("`MeanSquaredError.get_input_gradients()[0]` is d loss / d y_pred = 2 (y_pred - y_true) / (N C), "
            "as finite differences of the loss confirm.")
    grads = gradient_list(fetch(loss.get_input_gradients(), *shapes_of(case)), 1, "get_input_gradients()", prop, case)
    expect_close(prop, expected=judge.fd_gradient("mse", yp, yt, wrt=0), returned=grads[0],
                 what="get_input_gradients()[0]", inputs=case, batch=n, **M.GRADIENT,
                 second=loss_gradient_at(beras.losses.MeanSquaredError, "mse", yp, yt),
                 mistakes={Hint("batch-mean", "you divided by N only; the loss averages over all N*C entries."):
                           judge.value("mse_gradient_over_n", yp, yt),
                           Hint("batch-mean", "you left out the 1/(N C) of the mean."):
                           judge.value("mse_gradient_without_mean", yp, yt),
                           Hint("constant-factor", "the factor 2 from the square is missing."):
                           judge.value("mse_gradient_without_2", yp, yt)})


@weight(2)
@number("4.3")
@visibility("visible")
@tags("losses", "cross-entropy")
@given(case=classification_case())
def test_cross_entropy_value(beras, case):
    """cross-entropy value"""
    p, y = case["y_pred"], case["y_true"]
    n = p.shape[0]
    expect_close("`CategoricalCrossEntropy()(y_pred, y_true)` is the batch mean of -sum_c y_true * log(y_pred).",
                 expected=judge.value("cce", p, y), returned=scalar(fetch(beras.losses.CategoricalCrossEntropy()(p, y))),
                 what="CategoricalCrossEntropy()(y_pred, y_true)", inputs=case, **M.VALUE, batch=n,
                 classes=p.shape[1], second=loss_value_at(beras.losses.CategoricalCrossEntropy, "cce", p, y),
                 mistakes={Hint("batch-mean", "you summed over the batch; the loss is the batch MEAN."):
                           judge.value("cce_batch_sum", p, y),
                           Hint("batch-mean", "you averaged over all N*C entries; average over the N rows only."):
                           judge.value("cce_over_all_entries", p, y),
                           Hint("shape", "you returned one value per row; the loss is a single number."):
                           judge.value("cce_per_row", p, y),
                           Hint("sign", "the minus sign is missing."): judge.value("cce_sign_flipped", p, y)})


@weight(2)
@number("4.4")
@visibility("visible")
@tags("losses", "cross-entropy", "gradients")
@given(case=classification_case())
def test_cross_entropy_gradient(beras, case):
    """cross-entropy gradient vs FD"""
    p, y = case["y_pred"], case["y_true"]
    n = p.shape[0]
    loss = beras.losses.CategoricalCrossEntropy()
    loss(p, y)
    prop = ("`CategoricalCrossEntropy.get_input_gradients()[0]` is d loss / d y_pred = -y_true / y_pred / N, "
            "as finite differences of the loss confirm.")
    grads = gradient_list(fetch(loss.get_input_gradients(), *shapes_of(case)), 1, "get_input_gradients()", prop, case)
    expect_close(prop, expected=judge.fd_gradient("cce", p, y, wrt=0), returned=grads[0],
                 what="get_input_gradients()[0]", inputs=case, batch=n, **M.GRADIENT,
                 second=loss_gradient_at(beras.losses.CategoricalCrossEntropy, "cce", p, y))


@weight(1)
@number("4.8")
@visibility("visible")
@tags("losses", "mse", "gradients")
@given(case=regression_case())
def test_mse_gradient_wrt_y_true(beras, case):
    """MSE gradient w.r.t. y_true vs FD"""
    yp, yt = case["y_pred"], case["y_true"]
    n = yp.shape[0]
    loss = beras.losses.MeanSquaredError()
    loss(yp, yt)
    prop = ("`MeanSquaredError.get_input_gradients()[1]` is d loss / d y_true = -2 (y_pred - y_true) / (N C), "
            "as finite differences of the loss confirm, or zeros (labels are never trained, and the handouts "
            "leave this entry open).")
    grads = gradient_list(fetch(loss.get_input_gradients(), *shapes_of(case)), 2, "get_input_gradients()", prop, case)
    if not all_zeros_shaped_like(grads[1], yt):
        expect_close(prop, expected=judge.fd_gradient("mse", yp, yt, wrt=1), returned=grads[1],
                     what="get_input_gradients()[1]", inputs=case, batch=n, **M.GRADIENT,
                     mistakes={Hint("sign", "the sign is flipped: y_true enters the difference with a minus, so its "
                                            "gradient is minus the one for y_pred."):
                               judge.value("mse_y_true_gradient_sign_flipped", yp, yt)})


@weight(1)
@number("4.9")
@visibility("visible")
@tags("losses", "cross-entropy", "gradients")
@given(case=classification_case())
def test_cross_entropy_gradient_wrt_y_true(beras, case):
    """cross-entropy gradient w.r.t. y_true vs FD"""
    p, y = case["y_pred"], case["y_true"]
    n = p.shape[0]
    loss = beras.losses.CategoricalCrossEntropy()
    loss(p, y)
    prop = ("`CategoricalCrossEntropy.get_input_gradients()[1]` is d loss / d y_true = -log(y_pred) / N, "
            "as finite differences of the loss confirm, or zeros (labels are never trained, and the handouts "
            "leave this entry open).")
    grads = gradient_list(fetch(loss.get_input_gradients(), *shapes_of(case)), 2, "get_input_gradients()", prop, case)
    if not all_zeros_shaped_like(grads[1], y):
        expect_close(prop, expected=judge.fd_gradient("cce", p, y, wrt=1), returned=grads[1],
                     what="get_input_gradients()[1]", inputs=case, batch=n, **M.GRADIENT,
                     mistakes={Hint("sign", "the minus sign is missing."):
                               judge.value("cce_y_true_gradient_sign_flipped", p, y)})


@st.composite
def logits_case(draw):
    n, c = draw(S.batch_shape(min_dim=2))
    return {"logits": draw(S.array((n, c))), "y_true": draw(S.one_hot(n, c))}


def softmax_then_cce(beras, logits, y):
    """Forward through the student's Softmax and CCE, and back to d loss / d logits; also the
    probabilities (their dtype tells whether the student computed in float32)."""
    softmax, loss = beras.activations.Softmax(), beras.losses.CategoricalCrossEntropy()
    probs = softmax(logits)
    loss(probs, y)
    upstream = gradient_list(fetch(loss.compose_input_gradients(None), logits.shape, y.shape), 1,
                             "CategoricalCrossEntropy.get_input_gradients()",
                             "the loss returns one gradient per input", {"logits": logits, "y_true": y})[0]
    return softmax, fetch(probs, logits.shape), upstream


@weight(2)
@number("4.5")
@visibility("visible")
@tags("losses", "cross-entropy", "softmax", "q1")
@given(case=logits_case())
def test_q1_softmax_cross_entropy_logit_gradient(beras, case):
    """[Q1] Softmax + CCE gradient = (P - Y)/N to 1e-10"""
    logits, y = case["logits"], case["y_true"]
    n = logits.shape[0]
    softmax, probs, upstream = softmax_then_cce(beras, logits, y)
    prop = ("[Q1] Through Softmax then CategoricalCrossEntropy, the gradient of the loss with respect to the "
            "logits is (P - Y) / N (P the softmax, Y one-hot), to 1e-10.")
    got = gradient_list(fetch(softmax.compose_input_gradients([upstream]), logits.shape), 1,
                        "Softmax.compose_input_gradients([dL/dP])", prop, case)[0]

    def second():
        logits3, y3 = one_row_more(logits, y)
        softmax3, _, upstream3 = softmax_then_cce(beras, logits3, y3)
        got3 = fetch(softmax3.compose_input_gradients([upstream3]), logits3.shape)[0]
        return judge.value("q1_logit_gradient", logits3, y3), got3, len(y3)

    expect_close(prop, expected=judge.value("q1_logit_gradient", logits, y), returned=got, what="d loss / d logits",
                 inputs=case, batch=n, second=second,
                 **M.tolerance_for([probs, upstream, got], Q1_FLOAT64, Q1_FLOAT32),
                 mistakes={Hint("sign", "the sign is flipped: it is P - Y, not Y - P."):
                           judge.value("q1_logit_gradient_sign_flipped", logits, y)})


@weight(2)
@number("4.6")
@visibility("visible")
@tags("losses", "cross-entropy", "dense", "softmax", "q1")
@given(case=logits_case(), m=S.dim(), data=st.data())
def test_q1_single_layer_weight_gradient(beras, worker_side, case, m, data):
    """[Q1] single-layer weight gradient = x.T (P - Y)/N to 1e-10"""
    n, c = case["y_true"].shape
    y = case["y_true"]
    x = data.draw(S.array((n, m), 0, 1), label="x")
    w = data.draw(S.array((m, c), -2, 2), label="w")
    b = np.zeros((1, c))
    inputs = {"x": x, "w": w, "y_true": y}
    prop = ("[Q1] For a single Dense layer, Softmax and cross-entropy, dL/dw[i, j] = mean over the batch of "
            "(P_j - Y_j) x_i, i.e. x.T @ (P - Y) / N, to 1e-10.")
    dense = worker_side("probes").layer_with(beras.layers.Dense, w=w, b=b)
    softmax, loss = beras.activations.Softmax(), beras.losses.CategoricalCrossEntropy()
    logits = dense(x)
    probs = softmax(logits)
    loss(probs, y)
    upstream = gradient_list(fetch(loss.compose_input_gradients(None), (n, c), (n, c)), 1,
                             "CategoricalCrossEntropy.get_input_gradients()", prop, inputs)[0]
    d_logits = gradient_list(fetch(softmax.compose_input_gradients([upstream]), (n, c)), 1,
                             "Softmax.compose_input_gradients([dL/dP])", prop, inputs)[0]
    dW = gradient_list(fetch(dense.compose_weight_gradients([d_logits]), w.shape, b.shape), 2,
                       "Dense.compose_weight_gradients([dL/dlogits])", prop, inputs)[0]
    expect_close(prop, expected=judge.value("q1_weight_gradient", x, w, y), returned=dW, what="dL/dw", inputs=inputs, batch=n,
                 **M.tolerance_for(fetch([logits, probs], (n, c), (n, c)) + [upstream, d_logits, dW], Q1_FLOAT64, Q1_FLOAT32))
