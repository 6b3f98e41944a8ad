"""The graded suite accepts a gradient in an unusual shape (tests/graded/shapes.py) only when
the given compose code of every term profile (term_profiles.py) combines it exactly like the
usual shape, and the shapes it rejects are ones that code combines differently or not at all."""
from pathlib import Path

import numpy as np
import pytest

import term_profiles
from conftest import load_module_from

shapes = load_module_from(Path(__file__).resolve().parents[1] / "graded" / "shapes.py", "graded_shapes")

N, M, R = 3, 2, 4
rng = np.random.default_rng(3)
X, W, B, J = rng.normal(size=(N, M)), rng.normal(size=(M, R)), np.zeros((1, R)), rng.normal(size=(N, R))
SLOPE = rng.normal(size=(N, M))


@pytest.fixture(scope="module", params=term_profiles.profiles())
def given(request, tmp_path_factory):
    folder = term_profiles.materialised(request.param, tmp_path_factory.mktemp(request.param) / "submission")
    with term_profiles.imported_beras(folder) as beras:
        yield beras


def layer_returning(beras, input_gradient, weight_gradients, base="Diffable"):
    """A layer of the profile's given classes whose gradients are the arrays given."""
    parent = beras.core.Diffable if base == "Diffable" else beras.activations.LeakyReLU

    class Layer(parent):
        weights = [W, B]

        def __init__(self):
            self.alpha = 0.5

        def forward(self, x):
            return x @ W + B

        def get_input_gradients(self):
            return [input_gradient]

        def get_weight_gradients(self):
            return weight_gradients

    layer = Layer()
    layer(X)
    return layer


def composed(gradients):
    return [np.asarray(g, dtype=float) for g in gradients]


def compose_or_none(fn):
    try:
        return composed(fn())
    except (ValueError, IndexError):
        return None


@pytest.mark.parametrize("db", [np.ones((1, R)), np.ones(R), np.ones(1), np.ones(()), np.ones((N, 1, R))])
def test_accepted_bias_gradients_compose_like_ones_of_bs_shape(given, db):
    assert shapes.shared_gradient(db, (1, R), N).shape == (1, R)
    usual = layer_returning(given, W, [X[:, :, None], np.ones((1, R))]).compose_weight_gradients([J])
    theirs = layer_returning(given, W, [X[:, :, None], db]).compose_weight_gradients([J])
    assert np.allclose(composed(theirs)[1].reshape(1, R), composed(usual)[1].reshape(1, R))


@pytest.mark.parametrize("db", [np.ones((N, R)), np.ones((R, 1))])
def test_rejected_bias_gradients_do_not_compose_like_it(given, db):
    assert shapes.shared_gradient(db, (1, R), N).shape != (1, R)
    theirs = compose_or_none(lambda: layer_returning(given, W, [X[:, :, None], db]).compose_weight_gradients([J]))
    usual = composed(layer_returning(given, W, [X[:, :, None], np.ones((1, R))]).compose_weight_gradients([J]))
    assert theirs is None or theirs[1].shape != usual[1].shape or not np.allclose(theirs[1], usual[1])


def test_w_once_per_sample_composes_like_w(given):
    per_sample = np.repeat(W[None], N, axis=0)
    assert shapes.is_per_sample_copy(per_sample, W.shape, N)
    usual = composed(layer_returning(given, W, []).compose_input_gradients([J]))
    theirs = composed(layer_returning(given, per_sample, []).compose_input_gradients([J]))
    assert np.allclose(theirs[0], usual[0])


@pytest.mark.parametrize("slope", [SLOPE[None], SLOPE])
def test_accepted_slopes_compose_like_the_usual_one_under_the_given_override(given, slope):
    assert shapes.elementwise_slope(slope, X.shape).shape == X.shape
    theirs = layer_returning(given, slope, [], base="LeakyReLU").compose_input_gradients([J[:, :M]])
    assert np.allclose(composed(theirs)[0], SLOPE * J[:, :M])
