"""Test-provided parts, built on the student's own base classes.

This file is NOT imported by the grader: its source is sent to the student's worker and run
there (see `conftest.WorkerNamespace`), so that a test of one part (the tape, the model, an
optimizer) can use helpers of ours instead of the student's other parts. A bug elsewhere
then cannot cost this part's points. Only numpy and the student's `beras.core` are used;
inside, arrays are plain numpy so that a student's Tensor quirks do not leak in.

The student kit ships this file, and the kit holds no answer: no layer, loss or optimizer
here is a homework part (no x @ w + b, no MSE, no gradient-descent step), and no layer here
spells out a gradient. A probe layer knows only its forward; its Jacobians are float64
central differences of that forward (`Probe`), which are exact to about 1e-9 for these
smooth functions, far inside the suite's gradient tolerance (numerics.GRADIENT).
"""
import numpy as np

from beras.core import Diffable, Variable, Weighted

STEP = 1e-6  # central differences: error ~ STEP^2 + eps / STEP ~ 1e-10 for O(1) derivatives


def plain(value):
    return np.array(value, dtype=np.float64)


def variable(value):
    """A float64 copy of value as the student's Variable. Under Fall 2024's alias
    `Variable = Tensor` that runs the student's Tensor constructor, a part graded on its own
    (1.x): while it is unfinished, the copy is a view instead, whose `trainable` flag comes
    from the given `__array_finalize__`."""
    try:
        return Variable(plain(value))
    except Exception:  # noqa: BLE001 - e.g. the handout's NotImplementedError stub
        return plain(value).view(Variable)


class Probe(Diffable):
    """A layer that knows only `value(*inputs)` (pure, on the current weights): its input and
    weight gradients are central differences of it, in the API's conventions.

    Row b of the output depends only on row b of each input, and column j only on column j
    of each weight, so perturbing a whole input column (all rows at once) or one weight entry
    gives every sample's entries in two calls. A layer that is linear in its input may say
    so (`shared_input_jacobian`): one (m, r) Jacobian for the batch, the 2-D convention; a
    layer whose weight Jacobian is the same for every sample says `shared_weight_jacobian`.
    A scalar output (a loss) gets gradients shaped like its inputs."""

    shared_input_jacobian = False
    shared_weight_jacobian = False

    @property
    def weights(self):
        return []

    def forward(self, x):  # a layer's one input; a loss names its two (Diffable binds by name)
        return self.value(plain(x))

    def value(self, *inputs):
        raise NotImplementedError

    def _inputs(self):
        return [plain(v) for v in self.inputs]

    def get_input_gradients(self):
        inputs = self._inputs()
        grads = []
        for k, x in enumerate(inputs):
            def moved(delta, k=k):
                return self.value(*[v + delta if i == k else v for i, v in enumerate(inputs)])
            grads.append(self._differences(x, moved, self.shared_input_jacobian))
        return grads

    def get_weight_gradients(self):
        inputs = self._inputs()
        grads = []
        for k, weight in enumerate(self.weights):
            original = plain(weight)

            def moved(delta, k=k, original=original):
                self._moved = (k, original + delta)  # the student's Variable itself is never written
                try:
                    return self.value(*inputs)
                finally:
                    self._moved = None
            grads.append(self._differences(original, moved, self.shared_weight_jacobian, per_entry=True))
        return grads

    def weight(self, k):
        """The k-th weight's value (moved while differences are taken)."""
        moved = getattr(self, "_moved", None)
        return moved[1] if moved is not None and moved[0] == k else plain(self.weights[k])

    def _differences(self, x, moved, shared, per_entry=False):
        """d value / d x: shaped like x for a scalar value; else (N, m, r) per sample, or its
        first sample (m, r) when `shared`. `per_entry`: x is a weight (m, r) whose column j
        feeds output column j only; otherwise x is an input (N, m) fed row by row."""
        scalar = np.ndim(moved(np.zeros_like(x))) == 0
        if scalar:
            grad = np.zeros_like(x)
            for idx in np.ndindex(x.shape):
                step = np.zeros_like(x)
                step[idx] = STEP
                grad[idx] = (moved(step) - moved(-step)) / (2 * STEP)
            return grad
        if per_entry:
            rows, cols = x.shape
            n = np.shape(moved(np.zeros_like(x)))[0]
            jac = np.zeros((n, rows, cols))
            for i in range(rows):
                for j in range(cols):
                    step = np.zeros_like(x)
                    step[i, j] = STEP
                    jac[:, i, j] = (moved(step)[:, j] - moved(-step)[:, j]) / (2 * STEP)
        else:
            jac = None
            for i in range(x.shape[1]):
                step = np.zeros_like(x)
                step[:, i] = STEP
                column = (moved(step) - moved(-step)) / (2 * STEP)
                if jac is None:
                    jac = np.zeros((x.shape[0], x.shape[1], column.shape[1]))
                jac[:, i, :] = column
        return jac[0] if shared else jac


class Gate(Probe):
    """y = (x @ w) * c: a matrix weight w (m, r) whose outputs are scaled column by column by a
    gate c (1, r). Linear in x, so its input Jacobian is shared by the batch. Not Dense."""

    shared_input_jacobian = True

    def __init__(self, w, c):
        self.w = variable(w)
        self.c = variable(c)

    @property
    def weights(self):
        return [self.w, self.c]

    def value(self, x):
        return (x @ self.weight(0)) * self.weight(1)


class Tanh(Probe):
    """Element-wise tanh (not a homework activation); one (n, n) Jacobian per sample."""

    def value(self, x):
        return np.tanh(x)


class Scale(Probe):
    """y = x * s with a (1, n) weight s: a shared diagonal input Jacobian, per-sample dy/ds."""

    shared_input_jacobian = True

    def __init__(self, s):
        self.s = variable(s)

    @property
    def weights(self):
        return [self.s]

    def value(self, x):
        return x * self.weight(0)


class LogCosh(Probe):
    """Loss: sum(log(cosh(y_pred - y_true))) / N (not a homework loss), with gradients for both
    inputs. logaddexp keeps it finite for any difference."""

    def forward(self, y_pred, y_true):
        return self.value(plain(y_pred), plain(y_true))

    def value(self, y_pred, y_true):
        d = y_pred - y_true
        return np.sum(np.logaddexp(d, -d) - np.log(2.0)) / d.shape[0]


class Given(Diffable):
    """A function of the classifier whose output and input gradients the grader computed
    (softmax, cross-entropy): the kit ships no closed form of a student part, so this worker
    helper holds none either. It is called exactly once, on the inputs the values belong to.

    The handout's given `Diffable.__call__` binds inputs by `forward.__code__.co_varnames`,
    so each input is a named positional parameter of `forward`, and `forward` has no local
    variable (a local's name would follow the parameters' there): GivenLayer takes one input,
    GivenLoss two."""

    def __init__(self, output, input_gradients):
        self.output, self.input_gradients = plain(output), [plain(g) for g in input_gradients]

    @property
    def weights(self):
        return []

    def get_input_gradients(self):
        return list(self.input_gradients)

    def get_weight_gradients(self):
        return []


class GivenLayer(Given):
    def forward(self, x):
        return self.output


class GivenLoss(Given):
    def forward(self, y_pred, y_true):
        return self.output


def softmax_classifier_gradient(tape_class, x, w, y, probs, softmax_jacobian, loss, loss_gradients):
    """dL/dw for L = cross-entropy(softmax(x @ w), y) on the batch (x, y), through
    `tape_class` (the student's GradientTape): only the tape's chaining is the student's. The
    softmax and the loss are Given* layers holding the grader's values for this batch (probs,
    their per-sample Jacobians, the loss and its gradients [d/dprobs, d/dy])."""
    layer = Gate(w, np.ones((1, plain(w).shape[1])))  # logits = (x @ w) * 1
    softmax, loss_fn = GivenLayer(probs, [softmax_jacobian]), GivenLoss(loss, loss_gradients)
    with tape_class() as tape:
        loss = loss_fn(softmax(layer(plain(x))), plain(y))
    return tape.gradient(loss, [layer.w])


class RecordingShift(Probe):
    """y = x + b; remembers every batch it was trained on: each batch whose recorded forward
    pass the test's tape (worker_side/replay_tape.py) differentiated a loss through."""

    shared_input_jacobian = True
    shared_weight_jacobian = True

    def __init__(self, n):
        self.b = variable(np.zeros((1, n)))
        self.trained_on = []

    @property
    def weights(self):
        return [self.b]

    def value(self, x):
        return x + self.weight(0)

    def grader_replay_notice(self, inputs):
        self.trained_on.append(plain(inputs[0]))

    def batches(self):
        return [batch.copy() for batch in self.trained_on]


class SignDescent:
    """Moves each parameter by learning_rate against the sign of its gradient, to train a model
    without the student's optimizers (not a homework optimizer), and records its calls."""

    def __init__(self, learning_rate):
        self.learning_rate = learning_rate
        self.calls = 0
        self.received = []  # ids of the parameters of each call

    def apply_gradients(self, trainable_params, grads):
        self.calls += 1
        self.received.append([id(p) for p in trainable_params])
        for p, g in zip(trainable_params, grads):
            p -= self.learning_rate * np.sign(plain(g))


class LabelScore:
    """A metric to compile a model with, without the student's: the mean score of each row's
    labelled column. Not categorical accuracy, which is a student part (the kit holds none).

    The handout's compile types the metric as a Beras Callable, and real batch_steps call
    either `acc_fn(...)` or `acc_fn.forward(...)`: it offers both, with named inputs. It is no
    subclass of the student's Callable, whose given __call__ wraps the result with the
    student's own Tensor (a part graded elsewhere)."""

    def forward(self, probs, labels):
        return float(np.mean(np.sum(plain(probs) * plain(labels), axis=-1)))

    def __call__(self, probs, labels):
        return self.forward(probs, labels)


def layer_with(cls, **weights):
    """An instance of a student's layer class whose weights are given, without running its
    constructor (which would run the student's initializer, a different part)."""
    layer = cls.__new__(cls)
    for name, value in weights.items():
        setattr(layer, name, variable(value))
    return layer


def values_of(tensors):
    return [plain(t) for t in tensors]


class Holder(Weighted):
    """Owns the given weights (Variables), to test the student's Weighted properties."""

    def __init__(self, values):
        self._weights = [variable(v) for v in values]

    @property
    def weights(self):
        return self._weights


class GatedMember:
    """A committee member: (x @ a) * c, called like a Beras Callable (`member(x)` or
    `member.forward(x)`). No subclass of the student's Callable, whose given __call__ wraps the
    result with the student's own Tensor (graded on its own)."""

    def __init__(self, a, c):
        self.a, self.c = plain(a), plain(c)

    def forward(self, x):
        return (plain(x) @ self.a) * self.c

    def __call__(self, x):
        return self.forward(x)


def kept(value):
    """The value itself: a handle to data sent once and used by several calls."""
    return value
