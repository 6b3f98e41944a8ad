"""The reference Beras behaves as ../shared/beras-api.md says (gradients: test_reference_gradients.py)."""
import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_tensor_keeps_trainable_through_views_and_results(reference_beras):
    t = reference_beras.Tensor([[1.0, 2.0], [3.0, 4.0]])
    assert type(t) is reference_beras.Tensor and t.trainable is True and t.shape == (2, 2)
    t.trainable = False
    assert t[0].trainable is False and (t + 1).trainable is False and t.T.trainable is False
    assert reference_beras.Tensor(t).trainable is True


def test_weighted_trainable_flags(reference_beras):
    from beras.layers import Dense

    dense = Dense(2, 3)
    assert dense.trainable and dense.trainable_variables == [dense.w, dense.b]
    dense.b.trainable = False
    assert dense.trainable_variables == [dense.w] and dense.non_trainable_variables == [dense.b]
    dense.trainable = False
    assert not dense.trainable and dense.trainable_variables == [] and not dense.w.trainable
    assert reference_beras.ReLU().trainable is False  # no weights at all


@pytest.mark.parametrize("initializer, std", [("zero", 0.0), ("normal", 1.0),
                                              ("xavier", np.sqrt(2 / (784 + 10))), ("kaiming", np.sqrt(2 / 784))])
def test_initializers(reference_beras, initializer, std):
    from beras.layers import Dense

    np.random.seed(3)
    w, b = Dense._initialize_weight(initializer, 784, 10)
    assert w.shape == (784, 10) and b.shape == (1, 10) and not np.any(b)
    # 7,840 draws: the sample std is within 10% of the true one except with probability < 1e-20.
    assert np.std(w) == pytest.approx(std, rel=0.1, abs=0) and abs(np.mean(w)) <= 0.1 * std
    dense = Dense(784, 10, initializer=initializer)
    assert type(dense.w).__name__ == "Variable" and dense.weights == [dense.w, dense.b]


def test_unknown_initializer_is_an_error(reference_beras):
    from beras.layers import Dense

    with pytest.raises(ValueError, match="'uniform'"):
        Dense(2, 2, initializer="uniform")


def test_activations_and_cross_entropy_are_finite_for_huge_logits(reference_beras):
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):  # underflow to 0 is fine
        probs = reference_beras.Softmax()(logits)
        sig = reference_beras.Sigmoid()
        s = sig(logits)
        grad = sig.get_input_gradients()[0]
        loss = reference_beras.CategoricalCrossEntropy()(probs, np.eye(3)[[1, 0]])
    np.testing.assert_allclose(probs, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(s, [[1, 0, 0.5], [0, 0, 0]])
    assert np.all(np.isfinite(grad)) and np.isfinite(loss) and loss > 0


def test_element_wise_compose_equals_the_generic_one_with_diagonal_jacobians(reference_beras, rng):
    from beras.core import Diffable

    x, upstream = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    for layer in (reference_beras.LeakyReLU(0.2), reference_beras.Sigmoid()):
        layer(x)
        diagonal = layer.get_input_gradients()[0]
        jacobians = np.einsum("bi,ij->bij", diagonal, np.eye(4))
        generic = [jacobians[b] @ upstream[b] for b in range(3)]
        np.testing.assert_allclose(layer.compose_input_gradients([upstream])[0], generic, rtol=1e-12)
        assert Diffable.compose_input_gradients(layer, None)[0] is not None


def test_softmax_jacobian(reference_beras):
    softmax = reference_beras.Softmax()
    y = softmax(np.array([[0.0, np.log(3.0)]]))
    (jacobian,) = softmax.get_input_gradients()
    np.testing.assert_allclose(y, [[0.25, 0.75]])
    np.testing.assert_allclose(jacobian, [[[0.25 * 0.75, -0.25 * 0.75], [-0.25 * 0.75, 0.75 * 0.25]]])


def test_losses_closed_forms(reference_beras):
    y_pred = np.array([[0.5, 0.5], [0.9, 0.1]])
    y_true = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert float(reference_beras.MeanSquaredError()(y_pred, y_true)) == pytest.approx((0.25 * 2 + 0.81 * 2) / 4)
    assert float(reference_beras.CategoricalCrossEntropy()(y_pred, y_true)) == pytest.approx(
        -(np.log(0.5) + np.log(0.1)) / 2)
    cce = reference_beras.CategoricalCrossEntropy()
    cce(np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]]))
    assert np.all(np.isfinite(cce.get_input_gradients()[0]))  # clipped, not divided by zero


def test_metric_and_one_hot(reference_beras):
    from beras.onehot import OneHotEncoder

    accuracy = reference_beras.CategoricalAccuracy()(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]),
                                                     np.eye(2)[[0, 0, 0]])
    assert float(accuracy) == pytest.approx(2 / 3)
    encoder = OneHotEncoder()
    encoder.fit(np.array([7, 3, 5, 3]))
    onehot = encoder(np.array([5, 7, 3]))
    np.testing.assert_array_equal(onehot, [[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    np.testing.assert_array_equal(encoder.inverse(onehot), [5, 7, 3])
    with pytest.raises(ValueError, match=r"\[4\]"):
        encoder(np.array([3, 4]))


def test_optimizers_follow_their_update_rules_with_state(reference_beras):
    from beras.optimizers import Adam, BasicOptimizer, RMSProp

    g1, g2 = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    p = np.array([1.0, 1.0])
    BasicOptimizer(0.1).apply_gradients([p], [g1])
    np.testing.assert_allclose(p, [0.9, 1.2])

    p, rms = np.zeros(2), RMSProp(0.01, beta=0.9, epsilon=1e-6)
    rms.apply_gradients([p], [g1])
    rms.apply_gradients([p], [g2])
    v1 = 0.1 * g1**2
    v2 = 0.9 * v1 + 0.1 * g2**2
    np.testing.assert_allclose(p, -0.01 * g1 / (np.sqrt(v1) + 1e-6) - 0.01 * g2 / (np.sqrt(v2) + 1e-6))

    p, adam = np.zeros(2), Adam(0.01)
    adam.apply_gradients([p], [g1])
    adam.apply_gradients([p], [g2])
    m1, v1 = 0.1 * g1, 0.001 * g1**2
    m2, v2 = 0.9 * m1 + 0.1 * g2, 0.999 * v1 + 0.001 * g2**2
    step1 = 0.01 * (m1 / 0.1) / (np.sqrt(v1 / 0.001) + 1e-7)
    step2 = 0.01 * (m2 / (1 - 0.9**2)) / (np.sqrt(v2 / (1 - 0.999**2)) + 1e-7)
    np.testing.assert_allclose(p, -step1 - step2)
    assert adam.t == 2


def test_tape_refuses_nesting_and_gives_zero_for_unused_sources(reference_beras):
    from beras.layers import Dense

    dense, unused = Dense(2, 2), Dense(2, 2)
    with reference_beras.GradientTape() as tape:
        with pytest.raises(RuntimeError, match="Cannot nest gradient tape scopes."):
            reference_beras.GradientTape().__enter__()
        loss = reference_beras.MeanSquaredError()(dense(np.ones((1, 2))), np.zeros((1, 2)))
    grads = tape.gradient(loss, [unused.w, dense.w])
    assert not np.any(grads[0]) and grads[0].shape == (2, 2) and np.any(grads[1])


def small_model(reference_beras, rng, optimizer):
    from beras.layers import Dense

    np.random.seed(0)
    model = reference_beras.SequentialModel([Dense(4, 3, initializer="xavier"), reference_beras.Softmax()])
    model.compile(optimizer, reference_beras.CategoricalCrossEntropy(), reference_beras.CategoricalAccuracy())
    x = rng.normal(size=(30, 4))
    y = np.eye(3)[np.argmax(x[:, :3], axis=1)]  # learnable: the largest of the first three inputs
    return model, x, y


def test_fit_and_evaluate(reference_beras, rng):
    from beras.optimizers import Adam

    model, x, y = small_model(reference_beras, rng, Adam(0.05))
    history = model.fit(x, y, epochs=20, batch_size=8)
    assert set(history) == {"loss", "acc"} and len(history["loss"]) == 20
    assert all(type(v) is float for v in history["loss"] + history["acc"])
    assert history["loss"][-1] < history["loss"][0] / 2 and history["acc"][-1] > 0.8
    metrics, predictions = model.evaluate(x, y, batch_size=7)
    assert set(metrics) == {"loss", "acc"} and predictions.shape == (30, 3)
    expected = reference_beras.CategoricalCrossEntropy().forward(model.forward(x), y)
    assert metrics["loss"] == pytest.approx(float(expected), rel=1e-9)  # batch-size-weighted mean


def test_batch_step_updates_only_when_training_and_only_trainable(reference_beras, rng):
    from beras.optimizers import BasicOptimizer

    model, x, y = small_model(reference_beras, rng, BasicOptimizer(0.5))
    dense = model.layers[0]
    dense.b.trainable = False
    w, b = dense.w.copy(), dense.b.copy()
    stats, predictions = model.batch_step(x, y, training=False)
    assert set(stats) == {"loss", "acc"} and predictions.shape == (30, 3)
    np.testing.assert_array_equal(dense.w, w)
    assert set(model.batch_step(x, y, training=True)) == {"loss", "acc"}
    assert np.any(dense.w != w)
    np.testing.assert_array_equal(dense.b, b)
