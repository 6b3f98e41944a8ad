"""Numerical stability at extreme inputs: softmax and sigmoid at +-1000, cross-entropy at 0.

Hidden, since the public tests already ask for the formulas; these check that the student
wrote them in a form that does not overflow (families 3 and 4).
"""
import numpy as np
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hidden import closed_forms as C
import numerics as M
import strategies as S
from replies import fetch
from feedback import Hint, code_block, expect, expect_close, gradient_list, show
from shapes import elementwise_slope

# eps of the cross-entropy clip: real submissions use 1e-7, 1e-9, 1e-12 and 1e-15 (the handout
# fixes no value), so any eps in [1e-15, 1e-7] is right and -log(eps) is in [16.1, 34.6].
EPS_RANGE = (1e-15, 1e-7)
LOG_EPS_RANGE = (-np.log(EPS_RANGE[1]) - 1e-6, -np.log(EPS_RANGE[0]) + 1e-6)


@st.composite
def huge_logits(draw):
    shape = draw(S.batch_shape(min_dim=2))
    base = draw(S.array(shape, -3, 3))
    offsets = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([-1000.0, 0.0, 1000.0])))
    return base + offsets


@weight(1)
@number("3.7")
@visibility("hidden")
@tags("activations", "softmax", "stability")
@given(x=huge_logits())
def test_softmax_is_stable_for_huge_logits(beras, x):
    """Softmax finite and correct at ±1000"""
    probs = fetch(beras.activations.Softmax()(x), x.shape)
    expect_close("`Softmax()(x)` is finite and correct for logits of +-1000 (subtract each row's maximum "
                 "before exp()).", expected=C.softmax(x), returned=probs,
                 what="Softmax()(x)", inputs={"x": x},
                 **M.tolerance_for(probs, M.VALUE, M.float32_inputs_at(np.abs(x).max())),
                 nonfinite_hint=Hint("overflow", "exp(1000) overflows to inf, and inf / inf is nan: subtract the "
                                                 "row maximum first."),
                 mistakes={Hint("wrong-axis", "you normalised over the batch axis (0); softmax normalises each row "
                                              "(axis -1)."): C.softmax(x.T).T})


@weight(1)
@number("3.8")
@visibility("hidden")
@tags("activations", "sigmoid", "stability")
@given(x=huge_logits())
def test_sigmoid_is_stable_for_huge_inputs(beras, x):
    """Sigmoid finite and correct at ±1000"""
    layer = beras.activations.Sigmoid()
    expect_close("`Sigmoid()(x)` is finite and correct for inputs of +-1000.", expected=C.sigmoid(x),
                 returned=fetch(layer(x), x.shape), what="Sigmoid()(x)", inputs={"x": x}, **M.VALUE,
                 nonfinite_hint=Hint("overflow", "exp(1000) overflows: use exp(-|x|) and the two equivalent forms "
                                                 "of the sigmoid."))
    slope = elementwise_slope(gradient_list(fetch(layer.get_input_gradients(), x.shape), 1, "get_input_gradients()",
                                            "Sigmoid's input gradient is y * (1 - y).", {"x": x})[0], x.shape)
    expect_close("`Sigmoid.get_input_gradients()` is finite and correct for inputs of +-1000.",
                 expected=C.sigmoid_slope(x), returned=slope, what="get_input_gradients()[0]", inputs={"x": x}, **M.VALUE)


@st.composite
def zero_probability_case(draw):
    n, c = draw(S.batch_shape(min_dim=2))
    y = draw(S.one_hot(n, c))
    p = draw(S.probabilities((n, c)))
    zero_rows = draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(any))
    for row, zero in enumerate(zero_rows):  # the true class gets probability exactly 0
        if zero:
            p[row] = np.where(y[row] == 1, 0.0, p[row])
            p[row] /= p[row].sum()
    return {"y_pred": p, "y_true": y, "rows with p(true class) = 0": [i for i, z in enumerate(zero_rows) if z]}


@weight(1)
@number("4.7")
@visibility("hidden")
@tags("losses", "cross-entropy", "stability")
@given(case=zero_probability_case())
def test_cross_entropy_clips_zero_probabilities(beras, case):
    """cross-entropy clips a zero probability"""
    p, y = case["y_pred"], case["y_true"]
    n = p.shape[0]
    loss = beras.losses.CategoricalCrossEntropy()
    value = np.asarray(fetch(loss(p, y)), dtype=float)
    zero_rows = case["rows with p(true class) = 0"]
    finite_part = -np.sum(np.delete(y * np.log(np.where(p > 0, p, 1.0)), zero_rows, axis=0)) / n
    low = finite_part + len(zero_rows) * LOG_EPS_RANGE[0] / n
    high = finite_part + len(zero_rows) * LOG_EPS_RANGE[1] / n
    expect(value.size == 1 and np.isfinite(value).all() and low - 1e-5 <= float(value.reshape(-1)[0]) <= high + 1e-5,
           "Cross-entropy clips probabilities to [eps, 1 - eps] (eps between 1e-15 and 1e-7): a probability of "
           "0 for the true class gives a large but finite loss, -log(eps) / N per such row.",
           inputs=case, detail=f"The loss is `{show(value)}`; expected between {low:.4f} and {high:.4f}.",
           hint=Hint("clipping", "np.log(0) is -inf: keep the probabilities inside [eps, 1 - eps] before "
                                 "the log (numpy has one function for exactly that).")
           if value.size == 1 and not np.isfinite(value).all() else None)
    grad = gradient_list(fetch(loss.get_input_gradients(), p.shape, y.shape), 1, "get_input_gradients()",
                         "The loss returns one gradient per input.", case)[0]
    expect(np.all(np.isfinite(np.asarray(grad, dtype=float))),
           "Cross-entropy's gradient is finite when a probability is 0 (it divides by the clipped value).",
           inputs=case, detail="The gradient is:\n\n" + code_block(show(np.asarray(grad, dtype=float))),
           hint=Hint("clipping", "divide by the clipped probabilities, not the raw ones."))
