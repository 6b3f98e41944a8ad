"""Family 3: activations (beras/activations.py): LeakyReLU, ReLU, Sigmoid, Softmax.

Gradients are checked against finite differences of the mathematical function, computed
here in float64. Inputs to (Leaky)ReLU stay at least 0.05 away from its kink at 0, far
beyond the finite-difference step (1e-6).
"""
import numpy as np
from gradescope_utils.autograder_utils.decorators import number, tags, visibility, weight
from hypothesis import given
from hypothesis import strategies as st

import judge
import numerics as M
import strategies as S
from replies import fetch
from feedback import Hint, expect, expect_close, gradient_list
from shapes import elementwise_slope, note_unusual

ALPHAS = st.one_of(st.just(None), st.floats(0.01, 0.9, allow_subnormal=False))


def expect_composed_like_input(composed, slope, x, prop, inputs):
    """A slope in an unusual shape is right only when the submission's own (given) compose turns
    it into a gradient shaped like x, as the handouts' `g * J` does for (1, N, n)."""
    if np.shape(slope) != x.shape:
        expect(np.shape(composed) == x.shape, prop, inputs=inputs,
               detail=f"compose_input_gradients([J])[0] has shape {np.shape(composed)}; expected {x.shape}.",
               hint=Hint("shape", f"your get_input_gradients()[0] has shape {np.shape(slope)}, not x's {x.shape}, "
                                  f"and your compose_input_gradients keeps that shape: build the slope from one array "
                                  f"(`self.inputs[0]` or `self.outputs[0]`), not from a whole list."))


def make_leaky(beras, alpha):
    """(layer, alpha): the default LeakyReLU(), ReLU() (alpha 0) or LeakyReLU(alpha)."""
    acts = beras.activations
    if alpha is None:
        return acts.LeakyReLU(), 0.3
    if alpha == 0:
        return acts.ReLU(), 0.0
    return acts.LeakyReLU(alpha), alpha


def leaky_name(alpha):
    return "ReLU()" if alpha == 0 else f"LeakyReLU({alpha:g})"


@weight(2)
@number("3.1")
@visibility("visible")
@tags("activations", "leaky-relu")
@given(shape=S.batch_shape(), alpha=st.one_of(ALPHAS, st.just(0.0)), data=st.data())
def test_leaky_relu_forward(beras, shape, alpha, data):
    """LeakyReLU / ReLU forward"""
    x = data.draw(S.array(shape), label="x")
    layer, alpha = make_leaky(beras, alpha)
    expect_close(f"`{leaky_name(alpha)}` returns x where x > 0, else alpha * x.",
                 expected=judge.value("leaky_relu", x, alpha=alpha), returned=fetch(layer(x), x.shape), what=f"{leaky_name(alpha)}(x)",
                 inputs={"x": x, "alpha": alpha}, **M.VALUE,
                 mistakes={Hint("missing-term", "negative inputs must be multiplied by alpha, not set to 0."):
                           judge.value("relu_for_leaky", x),
                           Hint("wrong-input", "alpha multiplies the negative inputs, not the positive ones."):
                           judge.value("leaky_relu_alpha_on_positives", x, alpha=alpha),
                           Hint("wrong-input", "below zero return alpha * x, not the constant alpha."):
                           judge.value("leaky_relu_constant_below", x, alpha=alpha)})


@weight(2)
@number("3.2")
@visibility("visible")
@tags("activations", "leaky-relu", "gradients")
@given(shape=S.batch_shape(), alpha=st.one_of(ALPHAS, st.just(0.0)), data=st.data())
def test_leaky_relu_gradients(beras, add_output, shape, alpha, data):
    """LeakyReLU / ReLU gradients vs FD"""
    x = data.draw(S.away_from_zero(shape), label="x")
    J = data.draw(S.array(shape), label="J")
    layer, alpha = make_leaky(beras, alpha)
    layer(x)
    name = leaky_name(alpha)
    inputs = {"x": x, "alpha": alpha}
    prop = f"`{name}.get_input_gradients()` is `[1 where x > 0 else alpha]`, shaped like x."
    raw = gradient_list(fetch(layer.get_input_gradients(), x.shape), 1, "get_input_gradients()", prop, inputs)[0]
    slope = elementwise_slope(raw, x.shape)  # e.g. (1, N, n) from np.array(self.inputs): g * J composes it alike
    expect_close(prop, expected=judge.value("leaky_relu_slope", x, alpha=alpha), returned=slope,
                 what="get_input_gradients()[0]", inputs=inputs, **M.VALUE,
                 mistakes={Hint("missing-term", "below zero the slope is alpha, not 0 (that is ReLU's slope)."):
                           judge.value("relu_slope", x),
                           Hint("wrong-input", "the gradient is the slope of the function: 1 above zero, not x "
                                               "(the forward value)."):
                           judge.value("leaky_relu_constant_below", x, alpha=alpha)})
    inputs["J (upstream)"] = J
    prop = f"`{name}.compose_input_gradients([J])[0]` equals the finite differences of d<f(x), J>/dx."
    composed = gradient_list(fetch(layer.compose_input_gradients([J]), x.shape), 1, "compose_input_gradients([J])", prop, inputs)[0]
    expect_composed_like_input(composed, raw, x, prop, inputs)
    note_unusual(add_output, "get_input_gradients()[0]", np.shape(raw), x.shape)
    expect_close(prop, expected=judge.vjp_fd("leaky_relu", x, upstream=J, alpha=alpha), returned=composed,
                 what="compose_input_gradients([J])[0]", inputs=inputs, **M.GRADIENT)


@weight(2)
@number("3.3")
@visibility("visible")
@tags("activations", "sigmoid")
@given(shape=S.batch_shape(), data=st.data())
def test_sigmoid_forward(beras, shape, data):
    """Sigmoid forward"""
    x = data.draw(S.array(shape, -30, 30), label="x")
    expect_close("`Sigmoid()(x)` is 1 / (1 + exp(-x)), element-wise.", expected=judge.value("sigmoid", x),
                 returned=fetch(beras.activations.Sigmoid()(x), x.shape), what="Sigmoid()(x)", inputs={"x": x},
                 **M.VALUE, mistakes={Hint("sign", "you computed exp(-x) / (1 + exp(-x)), which is 1 - sigmoid(x)."):
                                      judge.value("one_minus_sigmoid", x)})


@weight(2)
@number("3.4")
@visibility("visible")
@tags("activations", "sigmoid", "gradients")
@given(shape=S.batch_shape(), data=st.data())
def test_sigmoid_gradients(beras, add_output, shape, data):
    """Sigmoid gradients vs FD"""
    x = data.draw(S.array(shape, -8, 8), label="x")
    J = data.draw(S.array(shape), label="J")
    layer = beras.activations.Sigmoid()
    layer(x)
    inputs = {"x": x}
    prop = "`Sigmoid.get_input_gradients()` is `[y * (1 - y)]`, y the output, shaped like x."
    raw = gradient_list(fetch(layer.get_input_gradients(), x.shape), 1, "get_input_gradients()", prop, inputs)[0]
    slope = elementwise_slope(raw, x.shape)
    expect_close(prop, expected=judge.value("sigmoid_slope", x), returned=slope, what="get_input_gradients()[0]", inputs=inputs,
                 **M.VALUE, mistakes={Hint("wrong-input", "the slope is written with the output y = sigmoid(x), not with the "
                                                          "input x."):
                                      judge.value("sigmoid_slope_of_input", x)})
    inputs["J (upstream)"] = J
    prop = "`Sigmoid.compose_input_gradients([J])[0]` equals the finite differences of d<sigmoid(x), J>/dx."
    composed = gradient_list(fetch(layer.compose_input_gradients([J]), x.shape), 1, "compose_input_gradients([J])", prop, inputs)[0]
    expect_composed_like_input(composed, raw, x, prop, inputs)
    note_unusual(add_output, "get_input_gradients()[0]", np.shape(raw), x.shape)
    expect_close(prop, expected=judge.vjp_fd("sigmoid", x, upstream=J), returned=composed,
                 what="compose_input_gradients([J])[0]", inputs=inputs, **M.GRADIENT)


@weight(2)
@number("3.5")
@visibility("visible")
@tags("activations", "softmax")
@given(shape=S.batch_shape(min_dim=2), shift=S.values(-50, 50), data=st.data())
def test_softmax_forward_and_identities(beras, shape, shift, data):
    """Softmax forward, rows sum to 1, shift invariance"""
    x = data.draw(S.array(shape, -10, 10), label="x")
    layer = beras.activations.Softmax()
    inputs = {"x": x}
    p = fetch(layer(x), x.shape)
    expect_close("`Softmax()(x)` is the softmax of each row: exp(x) / exp(x).sum(axis=-1, keepdims=True).",
                 expected=judge.value("softmax", x), returned=p, what="Softmax()(x)", inputs=inputs, **M.VALUE,
                 mistakes={Hint("wrong-axis", "you normalised over the batch axis (0); softmax normalises each row (axis -1)."):
                           judge.value("softmax_over_batch_axis", x),
                           Hint("wrong-axis", "you normalised by the sum of the whole array, not of each row (use keepdims=True)."):
                           judge.value("softmax_over_whole_array", x)})
    expect_close("Each row of `Softmax()(x)` sums to 1.", expected=np.ones(shape[0]),
                 returned=np.asarray(p, dtype=float).sum(axis=-1), what="Softmax()(x).sum(axis=-1)",
                 inputs=inputs, **M.VALUE)
    shifted = x + np.linspace(shift, -shift, shape[0])[:, None]
    expect_close("Adding a constant to every logit of a row does not change its softmax.",
                 expected=judge.value("softmax", x), returned=fetch(layer(shifted), x.shape), what="Softmax()(x + c)",
                 inputs={"x": x, "x + c (c constant per row)": shifted}, **M.VALUE,
                 nonfinite_hint=Hint("overflow", "subtract the row maximum before exp(); mathematically the "
                                                 "result is the same."))


@weight(2)
@number("3.6")
@visibility("visible")
@tags("activations", "softmax", "gradients")
@given(shape=S.batch_shape(min_dim=2), data=st.data())
def test_softmax_jacobian(beras, shape, data):
    """Softmax Jacobian (N, n, n), symmetric, rows sum 0, FD"""
    x = data.draw(S.array(shape, -5, 5), label="x")
    J = data.draw(S.array(shape), label="J")
    n, k = shape
    layer = beras.activations.Softmax()
    probs = layer(x)
    inputs = {"x": x}
    prop = ("`Softmax.get_input_gradients()` is `[Jac]`, Jac of shape (N, n, n) with "
            "Jac[b] = diag(y_b) - outer(y_b, y_b): symmetric, each row summing to 0.")
    jac = gradient_list(fetch(layer.get_input_gradients(), (n, k, k)), 1, "get_input_gradients()", prop, inputs)[0]
    # Symmetry and zero row sums hold to rounding: float32's when the student worked in it.
    identities = M.tolerance_for([fetch(probs, x.shape), jac], M.VALUE, M.GRADIENT)
    jac = np.asarray(jac, dtype=float)
    diagonal = judge.value("softmax_diagonal", x)  # y (1 - y): the sigmoid-like mistake
    diagonal_only = Hint("missing-term", "your Jacobian is only its diagonal, y (1 - y), as for the sigmoid: each "
                                         "softmax output depends on every logit, so the entries off the diagonal "
                                         "are not 0.")
    expect(jac.shape == (n, k, k), prop, inputs=inputs,
           detail=f"get_input_gradients()[0] has shape {jac.shape}; expected {(n, k, k)}.",
           hint=diagonal_only if (jac.shape == (n, k) and judge.known(diagonal)
                                  and np.allclose(jac, diagonal, rtol=1e-4, atol=1e-7)) else
           Hint("shape", "one n-by-n Jacobian per sample, the batch axis first; broadcasting an extra axis of "
                         "y against an identity matrix builds all the diagonals without a loop."))
    expect_close("Each softmax Jacobian is symmetric.", expected=np.swapaxes(jac, 1, 2), returned=jac,
                 what="get_input_gradients()[0]", inputs=inputs, **identities)
    no_diagonal = Hint("missing-term", "your Jacobian has only its outer-product part: the term that lives on the "
                                       "diagonal alone is missing.")
    expect_close("Each row of each softmax Jacobian sums to 0 (softmax outputs always sum to 1).",
                 expected=np.zeros((n, k)), returned=jac.sum(axis=2), what="Jac.sum(axis=2)",
                 inputs=inputs, **identities,
                 mistakes={no_diagonal: judge.value("softmax_negated", x), diagonal_only: diagonal})
    expect_close(prop, expected=judge.jacobian_fd("softmax", x), returned=jac, what="get_input_gradients()[0]",
                 inputs=inputs, **M.GRADIENT,
                 mistakes={no_diagonal: judge.value("softmax_jacobian_without_diag", x),
                           diagonal_only: judge.value("softmax_jacobian_diagonal_only", x)})
    inputs["J (upstream)"] = J
    prop = "`Softmax.compose_input_gradients([J])[0]` equals the finite differences of d<softmax(x), J>/dx."
    composed = gradient_list(fetch(layer.compose_input_gradients([J]), x.shape), 1, "compose_input_gradients([J])", prop, inputs)[0]
    expect_close(prop, expected=judge.vjp_fd("softmax", x, upstream=J), returned=composed,
                 what="compose_input_gradients([J])[0]", inputs=inputs, **M.GRADIENT)
