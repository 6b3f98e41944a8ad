"""The reference's gradients agree with float64 central finite differences (relative error < 1e-6)."""
import numpy as np
import pytest

TOLERANCE = 1e-6
STEP = 1e-6


def numerical_gradient(f, array):
    """d f() / d array by central differences, perturbing array in place."""
    grad = np.zeros(array.shape)
    for index in np.ndindex(array.shape):
        original = array[index]
        array[index] = original + STEP
        above = f()
        array[index] = original - STEP
        below = f()
        array[index] = original
        grad[index] = (above - below) / (2 * STEP)
    return grad


def assert_close(analytic, numeric, what):
    analytic = np.asarray(analytic, dtype=np.float64)
    assert analytic.shape == numeric.shape, f"{what}: shape {analytic.shape}, expected {numeric.shape}"
    error = np.max(np.abs(analytic - numeric)) / max(np.max(np.abs(numeric)), 1e-12)
    assert error < TOLERANCE, f"{what}: relative error {error:.2e}"


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


def test_dense(reference_beras, rng):
    from beras.layers import Dense

    dense = Dense(5, 3, initializer="normal")
    dense.b.assign(rng.normal(size=(1, 3)))
    x = rng.normal(size=(4, 5))
    upstream = rng.normal(size=(4, 3))  # the gradient of L = sum(upstream * dense(x))

    def loss():
        return float(np.sum(upstream * dense.forward(x)))

    dense(x)
    assert_close(dense.compose_input_gradients([upstream])[0], numerical_gradient(loss, x), "dL/dx")
    dw, db = dense.compose_weight_gradients([upstream])
    assert_close(dw, numerical_gradient(loss, dense.w), "dL/dw")
    assert_close(db, numerical_gradient(loss, dense.b), "dL/db")


@pytest.mark.parametrize("name", ["LeakyReLU", "ReLU", "Sigmoid", "Softmax"])
def test_activation(reference_beras, rng, name):
    layer = getattr(reference_beras, name)()
    x = rng.normal(size=(4, 6)) * 3
    x[np.abs(x) < 1e-3] = 0.5  # keep away from the kink of the ReLUs
    upstream = rng.normal(size=(4, 6))

    def loss():
        return float(np.sum(upstream * layer.forward(x)))

    layer(x)
    assert_close(layer.compose_input_gradients([upstream])[0], numerical_gradient(loss, x), f"{name} dL/dx")


@pytest.mark.parametrize("name", ["MeanSquaredError", "CategoricalCrossEntropy"])
def test_loss(reference_beras, rng, name):
    loss_fn = getattr(reference_beras, name)()
    # Probabilities well inside (eps, 1 - eps), where the clipped cross-entropy is smooth.
    y_pred = rng.uniform(0.05, 0.95, size=(5, 4))
    y_true = rng.uniform(0.0, 1.0, size=(5, 4))

    def loss():
        return float(loss_fn.forward(y_pred, y_true))

    loss_fn(y_pred, y_true)
    d_pred, d_true = loss_fn.compose_input_gradients(None)
    assert_close(d_pred, numerical_gradient(loss, y_pred), f"{name} dL/dy_pred")
    assert_close(d_true, numerical_gradient(loss, y_true), f"{name} dL/dy_true")


def test_dense_softmax_cross_entropy_through_the_tape(reference_beras, rng):
    from beras.layers import Dense

    dense = Dense(6, 4, initializer="xavier")
    dense.b.assign(rng.normal(size=(1, 4)))
    softmax, cce = reference_beras.Softmax(), reference_beras.CategoricalCrossEntropy()
    x = reference_beras.Tensor(rng.normal(size=(5, 6)))
    y = np.eye(4)[rng.integers(0, 4, size=5)]

    def loss():
        return float(cce.forward(softmax.forward(dense.forward(x)), y))

    with reference_beras.GradientTape() as tape:
        value = cce(softmax(dense(x)), y)
    assert float(value) == pytest.approx(loss(), rel=1e-12)
    dw, db, dx = tape.gradient(value, [dense.w, dense.b, x])
    assert_close(dw, numerical_gradient(loss, dense.w), "dL/dw")
    assert_close(db, numerical_gradient(loss, dense.b), "dL/db")
    assert_close(dx, numerical_gradient(loss, x), "dL/dx")


def test_tape_adds_up_a_tensor_read_by_two_layers(reference_beras, rng):
    """h feeds both the sigmoid and the loss: its gradient is the sum of both paths."""
    from beras.layers import Dense

    dense = Dense(3, 4, initializer="normal")
    sigmoid, mse = reference_beras.Sigmoid(), reference_beras.MeanSquaredError()
    x = rng.normal(size=(6, 3))

    def loss():
        h = dense.forward(x)
        return float(mse.forward(h, sigmoid.forward(h)))

    with reference_beras.GradientTape() as tape:
        h = dense(x)
        value = mse(h, sigmoid(h))
    dw, db = tape.gradient(value, [dense.w, dense.b])
    assert_close(dw, numerical_gradient(loss, dense.w), "dL/dw")
    assert_close(db, numerical_gradient(loss, dense.b), "dL/db")


def test_two_layer_model_gradients_through_the_tape(reference_beras, rng):
    from beras.layers import Dense

    model = reference_beras.SequentialModel([
        Dense(5, 7, initializer="kaiming"), reference_beras.LeakyReLU(0.1),
        Dense(7, 3, initializer="xavier"), reference_beras.Softmax()])
    cce = reference_beras.CategoricalCrossEntropy()
    x = rng.normal(size=(8, 5))
    y = np.eye(3)[rng.integers(0, 3, size=8)]

    def loss():
        return float(cce.forward(model.forward(x), y))

    with reference_beras.GradientTape() as tape:
        value = cce(model(x), y)
    for weight, grad in zip(model.weights, tape.gradient(value, model.weights)):
        assert_close(grad, numerical_gradient(loss, weight), f"weight of shape {weight.shape}")
