"""The closed forms of the homework's parts: the answers the suite judges with.

Trusted-only. This file lives in the hidden folder, so it ships to Gradescope and never in
the student kit (the build keeps hidden folders out whole). Public tests never import it:
they name a computation through `judge` (tests/graded/judge.py), which computes it here on
the grader, and in the kit answers from the values recorded at build time.

Everything is plain float64 numpy on the MATHEMATICAL function (never a student's forward).
`FORMS` maps each name a test may ask `judge` for to its function. A few names are wrong
formulas on purpose: what a typical mistake returns, so that a hint can recognise it.
"""
from __future__ import annotations

import numpy as np


def softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_jacobian(z: np.ndarray) -> np.ndarray:
    p = softmax(z)
    return np.einsum("bi,ij->bij", p, np.eye(p.shape[1])) - p[:, :, None] * p[:, None, :]


def sigmoid(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x, dtype=np.float64)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def sigmoid_slope(x: np.ndarray) -> np.ndarray:
    y = sigmoid(x)
    return y * (1 - y)


def leaky_relu(x: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(x > 0, x, alpha * x)


def leaky_relu_slope(x: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(x > 0, 1.0, alpha)


def mse(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    return float(np.mean((y_pred - y_true) ** 2))


def cce(p: np.ndarray, y: np.ndarray, eps: float = 0.0) -> float:
    """Batch mean of -sum_c y log p (p clipped to [eps, 1-eps] when eps > 0)."""
    if eps:
        p = np.clip(p, eps, 1 - eps)
    return float(-np.sum(y * np.log(p)) / p.shape[0])


def cce_per_row(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -(y * np.log(p)).sum(axis=1)


def one_hot(labels: np.ndarray, classes: int) -> np.ndarray:
    return np.eye(classes)[np.asarray(labels, dtype=int)]


def one_hot_encoding(fitted: np.ndarray, encoded: np.ndarray) -> np.ndarray:
    """OneHotEncoder after fit(fitted), applied to `encoded`: columns are the sorted distinct labels."""
    classes = np.unique(fitted)
    return (np.asarray(encoded)[:, None] == classes[None, :]).astype(float)


def q1_logit_gradient(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d CCE(softmax(logits), y) / d logits = (P - Y) / N."""
    return (softmax(logits) - y) / logits.shape[0]


def softmax_classifier_parts(x: np.ndarray, w: np.ndarray, y: np.ndarray) -> list:
    """For L = batch-mean cross-entropy(softmax(x @ w), y): [P, the per-sample softmax
    Jacobians, L, [dL/dP, dL/dy]] (what sgd.py's test-provided layers return)."""
    p = softmax(x @ w)
    n = p.shape[0]
    return [p, softmax_jacobian(x @ w), cce(p, y), [-y / p / n, -np.log(p) / n]]


def q1_weight_gradient(x: np.ndarray, w: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d CCE(softmax(x @ w), y) / d w = x.T (P - Y) / N."""
    return x.T @ (softmax(x @ w) - y) / x.shape[0]


def optimizer_sequence(kind, hyper, params, steps, eps_inside=False, mistake=None):
    """Parameters after each step, by the API's formulas, in float64. With eps_inside, the
    denominator sqrt(v + epsilon) instead of the API's sqrt(v) + epsilon.
    `mistake` names a typical wrong version (test_optimizers.MISTAKES), to recognise it in a hint."""
    params = [p.copy() for p in params]
    state = [{"m": 0.0, "v": 0.0, "t": 0} for _ in params]
    shared = {"m": 0.0, "v": 0.0}  # for the mistake of one state for all parameters
    out = []
    calls = 0  # for the mistake of counting t once per parameter
    for t, grads in enumerate(steps, start=1):
        for p, g, s in zip(params, grads, state):
            s = shared if mistake == "shared state" else s
            calls += 1
            t = calls if mistake == "t per parameter" else t
            eps_inside = eps_inside or mistake == "epsilon inside"
            if kind == "BasicOptimizer":
                p -= (-1 if mistake == "ascent" else 1) * hyper["learning_rate"] * g
            elif kind == "RMSProp":
                beta = 1 - hyper["beta"] if mistake == "betas swapped" else hyper["beta"]
                s["v"] = beta * s["v"] + (1 - beta) * g ** 2
                v = s["v"] ** 2 if mistake == "no sqrt" else s["v"]  # so that sqrt(v) is v
                p -= hyper["learning_rate"] * g / denominator(v, hyper["epsilon"], eps_inside)
            else:
                b1, b2 = hyper["beta_1"], hyper["beta_2"]
                s["m"] = b1 * s["m"] + (1 - b1) * g
                s["v"] = b2 * s["v"] + (1 - b2) * g ** 2
                m_hat = s["m"] if mistake in ("no m correction", "no correction") else s["m"] / (1 - b1 ** t)
                v_hat = s["v"] if mistake in ("no v correction", "no correction") else s["v"] / (1 - b2 ** t)
                p -= hyper["learning_rate"] * m_hat / denominator(v_hat, hyper["epsilon"], eps_inside)
        out.append([p.copy() for p in params])
    return out


def denominator(v, epsilon, eps_inside):
    return np.sqrt(v + epsilon) if eps_inside else np.sqrt(v) + epsilon


def categorical_accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose argmax (the first largest entry) is the label's."""
    return float(np.mean(np.argmax(probs, axis=-1) == np.argmax(labels, axis=-1)))


def gated_committee(x: np.ndarray, members: list) -> np.ndarray:
    """The average of the members (x @ a_k) * c_k (worker_side/probes.GatedMember)."""
    return np.mean([(x @ a) * c for a, c in members], axis=0)


def initializer_std(name: str, m: int, r: int) -> float:
    return {"normal": 1.0, "xavier": np.sqrt(2.0 / (m + r)), "kaiming": np.sqrt(2.0 / m)}[name]


FORMS = {
    "dense_input_jacobian": lambda x, w, b: w,
    "dense_weight_jacobian": lambda x, w, b: x[:, :, None],
    "dense_bias_jacobian": lambda x, w, b: np.ones(np.shape(b)),
    "initializer_std": initializer_std,
    # test_dense.STD_CANDIDATES names these, in this order, for a hint
    "initializer_std_candidates": lambda m, r: [np.sqrt(2 / (m + r)), np.sqrt(2 / m), np.sqrt(2 / r),
                                                np.sqrt(1 / m), np.sqrt(1 / (m + r)), 1.0,
                                                np.sqrt(2 / m + r), np.sqrt(1 / 3)],
    "categorical_accuracy": categorical_accuracy,
    "gated_committee": gated_committee,
    "scaled_pixels": lambda pixels: pixels / 255,
    "optimizer_sequence": optimizer_sequence,
    "dense": lambda x, w, b: x @ w + b,
    "softmax": softmax,
    "softmax_jacobian": softmax_jacobian,
    "linear_softmax": lambda x, w: softmax(x @ w),
    "softmax_classifier_parts": softmax_classifier_parts,
    "linear_softmax_jacobian": lambda x, w: softmax_jacobian(x @ w),
    "sigmoid": sigmoid,
    "sigmoid_slope": sigmoid_slope,
    "leaky_relu": leaky_relu,
    "leaky_relu_slope": leaky_relu_slope,
    "mse": mse,
    "cce": cce,
    "one_hot_encoding": one_hot_encoding,
    "q1_logit_gradient": q1_logit_gradient,
    "q1_weight_gradient": q1_weight_gradient,
    # Typical mistakes, for hints.
    "accuracy_over_batch_axis": lambda probs, labels: float(np.mean(np.argmax(probs, axis=0) == np.argmax(labels, axis=0))),
    # raises ValueError unless numpy can broadcast (N,) against (N, C)
    "accuracy_without_label_argmax": lambda probs, labels: float(np.mean(np.argmax(probs, axis=-1) == labels)),
    "accuracy_against_label_column": lambda probs, labels, j: float(np.mean(np.argmax(probs, axis=-1)
                                                                             == np.asarray(labels)[:, j])),
    "accuracy_hit_count": lambda probs, labels: float(np.sum(np.argmax(probs, axis=-1) == np.argmax(labels, axis=-1))),
    "accuracy_against_constant_class": lambda probs, k: float(np.mean(np.argmax(probs, axis=-1) == k)),
    "pixels_floor_divided": lambda pixels: pixels // 255,
    "pixels_over_256": lambda pixels: pixels / 256,
    "gated_committee_sum": lambda x, members: np.sum([(x @ a) * c for a, c in members], axis=0),
    "gated_committee_max": lambda x, members: np.max([(x @ a) * c for a, c in members], axis=0),
    "dense_without_bias": lambda x, w, b: x @ w,
    "dense_bias_twice": lambda x, w, b: x @ w + 2 * b,
    "relu_for_leaky": lambda x: np.maximum(x, 0),
    "leaky_relu_alpha_on_positives": lambda x, alpha: np.where(x > 0, alpha * x, x),
    "leaky_relu_constant_below": lambda x, alpha: np.where(x > 0, x, alpha),
    "relu_slope": lambda x: np.where(x > 0, 1.0, 0.0),
    "one_minus_sigmoid": lambda x: sigmoid(-x),
    "sigmoid_slope_of_input": lambda x: x * (1 - x),
    "softmax_over_batch_axis": lambda x: np.exp(x) / np.exp(x).sum(axis=0, keepdims=True),
    "softmax_over_whole_array": lambda x: np.exp(x) / np.exp(x).sum(),
    "softmax_negated": lambda x: -softmax(x),
    "softmax_diagonal": lambda x: softmax(x) * (1 - softmax(x)),
    "softmax_jacobian_diagonal_only": lambda x: (softmax(x)[:, :, None] * np.eye(np.shape(x)[-1])
                                                 * (1 - softmax(x))[:, :, None]),
    "softmax_jacobian_without_diag": lambda x: -softmax(x)[:, :, None] * softmax(x)[:, None, :],
    "squared_error_sum": lambda yp, yt: ((yp - yt) ** 2).sum(),
    "squared_error_over_n": lambda yp, yt: ((yp - yt) ** 2).sum() / yp.shape[0],
    "squared_error_row_means": lambda yp, yt: ((yp - yt) ** 2).mean(axis=1),
    "error_mean_unsquared": lambda yp, yt: (yp - yt).mean(),
    "mse_gradient_over_n": lambda yp, yt: 2 * (yp - yt) / yp.shape[0],
    "mse_gradient_without_mean": lambda yp, yt: 2 * (yp - yt),
    "mse_gradient_without_2": lambda yp, yt: (yp - yt) / (yp - yt).size,
    "mse_y_true_gradient_sign_flipped": lambda yp, yt: 2 * (yp - yt) / (yp - yt).size,
    "cce_batch_sum": lambda p, y: cce_per_row(p, y).sum(),
    "cce_over_all_entries": lambda p, y: cce_per_row(p, y).sum() / p.size,
    "cce_per_row": cce_per_row,
    "cce_sign_flipped": lambda p, y: -cce_per_row(p, y).mean(),
    "cce_y_true_gradient_sign_flipped": lambda p, y: np.log(p) / p.shape[0],
    "q1_logit_gradient_sign_flipped": lambda logits, y: -q1_logit_gradient(logits, y),
}
