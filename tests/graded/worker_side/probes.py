"""Test-provided parts with known gradients, built on the student's own base classes.

This file is NOT imported by the grader: its source is sent to the student's worker and run
there (see `conftest.WorkerSide`), so that a test of one part (the tape, the model, an
optimizer) can use correct helpers instead of the student's other parts. A bug elsewhere
then cannot cost this part's points. Only numpy and the student's `beras.core` are used;
inside, arrays are plain numpy so that a student's Tensor quirks do not leak in.
"""
import numpy as np

from beras.core import Callable, Diffable, Variable, Weighted


def plain(value):
    return np.array(value, dtype=np.float64)


class Linear(Diffable):
    """y = x @ w + b, with the usual gradients (shared dy/dx, per-sample dy/dw)."""

    def __init__(self, w, b):
        self.w = Variable(plain(w))
        self.b = Variable(plain(b))

    @property
    def weights(self):
        return [self.w, self.b]

    def forward(self, x):
        return plain(x) @ plain(self.w) + plain(self.b)

    def get_input_gradients(self):
        return [plain(self.w)]

    def get_weight_gradients(self):
        x = plain(self.inputs[0])
        return [x[:, :, None], np.ones_like(plain(self.b))]


class Tanh(Diffable):
    """Element-wise tanh; its input gradient is given as one (n, n) Jacobian per sample."""

    @property
    def weights(self):
        return []

    def forward(self, x):
        return np.tanh(plain(x))

    def get_input_gradients(self):
        slope = 1.0 - np.tanh(plain(self.inputs[0])) ** 2
        return [slope[:, :, None] * np.eye(slope.shape[1])]

    def get_weight_gradients(self):
        return []


class Scale(Diffable):
    """y = x * s with a (1, n) weight s: a shared diagonal input Jacobian, per-sample dy/ds."""

    def __init__(self, s):
        self.s = Variable(plain(s))

    @property
    def weights(self):
        return [self.s]

    def forward(self, x):
        return plain(x) * plain(self.s)

    def get_input_gradients(self):
        return [np.diag(plain(self.s)[0])]

    def get_weight_gradients(self):
        return [plain(self.inputs[0])[:, None, :]]


class SquaredError(Diffable):
    """Loss: sum((y_pred - y_true)^2) / N, with gradients for both inputs."""

    @property
    def weights(self):
        return []

    def forward(self, y_pred, y_true):
        diff = plain(y_pred) - plain(y_true)
        return np.sum(diff ** 2) / diff.shape[0]

    def get_input_gradients(self):
        diff = plain(self.inputs[0]) - plain(self.inputs[1])
        return [2 * diff / diff.shape[0], -2 * diff / diff.shape[0]]

    def get_weight_gradients(self):
        return []


class Given(Diffable):
    """A function of the classifier whose output and input gradients the grader computed
    (softmax, cross-entropy): the kit ships no closed form of a student part, so this worker
    helper holds none either. It is called exactly once, on the inputs the values belong to."""

    def __init__(self, output, input_gradients):
        self.output, self.input_gradients = plain(output), [plain(g) for g in input_gradients]

    @property
    def weights(self):
        return []

    def forward(self, *inputs):
        return self.output

    def get_input_gradients(self):
        return list(self.input_gradients)

    def get_weight_gradients(self):
        return []


def softmax_classifier_gradient(tape_class, x, w, y, probs, softmax_jacobian, loss, loss_gradients):
    """dL/dw for L = cross-entropy(softmax(x @ w + 0), y) on the batch (x, y), through
    `tape_class` (the student's GradientTape): only the tape's chaining is the student's. The
    softmax and the loss are Given layers holding the grader's values for this batch (probs,
    their per-sample Jacobians, the loss and its gradients [d/dprobs, d/dy])."""
    layer = Linear(w, np.zeros((1, plain(w).shape[1])))
    softmax, loss_fn = Given(probs, [softmax_jacobian]), Given(loss, loss_gradients)
    with tape_class() as tape:
        loss = loss_fn(softmax(layer(plain(x))), plain(y))
    return tape.gradient(loss, [layer.w])


class RecordingShift(Diffable):
    """y = x + b; remembers every batch it was asked weight gradients for (i.e. trained on)."""

    def __init__(self, n):
        self.b = Variable(np.zeros((1, n)))
        self.trained_on = []
        self.fresh = False

    @property
    def weights(self):
        return [self.b]

    def forward(self, x):
        self.fresh = True
        return plain(x) + plain(self.b)

    def get_input_gradients(self):
        return [np.eye(plain(self.b).shape[1])]

    def get_weight_gradients(self):
        if self.fresh:  # once per forward pass, however often a tape asks
            self.trained_on.append(plain(self.inputs[0]))
            self.fresh = False
        return [np.ones_like(plain(self.b))]

    def batches(self):
        return [batch.copy() for batch in self.trained_on]


class SGD:
    """Plain gradient descent, to train a model without the student's optimizers."""

    def __init__(self, learning_rate):
        self.learning_rate = learning_rate
        self.calls = 0
        self.received = []  # ids of the parameters of each call

    def apply_gradients(self, trainable_params, grads):
        self.calls += 1
        self.received.append([id(p) for p in trainable_params])
        for p, g in zip(trainable_params, grads):
            p -= self.learning_rate * plain(g)


class LabelScore:
    """A metric to compile a model with, without the student's: the mean score of each row's
    labelled column. Not categorical accuracy, which is a student part (the kit holds none)."""

    def __call__(self, probs, labels):
        return float(np.mean(np.sum(plain(probs) * plain(labels), axis=-1)))


def layer_with(cls, **weights):
    """An instance of a student's layer class whose weights are given, without running its
    constructor (which would run the student's initializer, a different part)."""
    layer = cls.__new__(cls)
    for name, value in weights.items():
        setattr(layer, name, Variable(plain(value)))
    return layer


def values_of(tensors):
    return [plain(t) for t in tensors]


class Holder(Weighted):
    """Owns the given weights (Variables), to test the student's Weighted properties."""

    def __init__(self, values):
        self._weights = [Variable(plain(v)) for v in values]

    @property
    def weights(self):
        return self._weights


class Affine(Callable):
    """A committee member: x @ a + c (a Callable, like a trained model's output)."""

    def __init__(self, a, c):
        self.a, self.c = plain(a), plain(c)

    def forward(self, x):
        return plain(x) @ self.a + self.c


def kept(value):
    """The value itself: a handle to data sent once and used by several calls."""
    return value
