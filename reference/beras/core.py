"""The building blocks every Beras layer, loss and model is made of."""
import inspect
from abc import ABC, abstractmethod

import numpy as np

__all__ = ["Tensor", "Variable", "Callable", "Weighted", "Diffable"]


class Tensor(np.ndarray):
    """A NumPy array with a `trainable` flag (True unless set otherwise)."""

    def __new__(cls, a):
        # BEGIN SOLUTION: view np.asarray(a) as this class and set trainable = True
        tensor = np.asarray(a).view(cls)
        tensor.trainable = True
        return tensor
        # END SOLUTION

    def __array_finalize__(self, obj):
        # Views and results of operations inherit the flag of the array they came from.
        self.trainable = getattr(obj, "trainable", True)


def _as_tensor(value, cls=None):
    """np.asarray(value) viewed as a Tensor (or as cls), which is what Tensor(value) gives.

    The given framework uses this rather than Tensor's constructor, so that it works before
    that constructor is written.
    """
    return np.asarray(value).view(cls or Tensor)


class Variable(Tensor):
    """A Tensor that is a parameter: it is updated in place."""

    def __new__(cls, value):
        return _as_tensor(value, cls)

    def assign(self, value):
        self[...] = value


class Callable(ABC):
    """Anything that maps inputs to an output Tensor through `forward`."""

    def __call__(self, *args, **kwargs):
        return _as_tensor(self.forward(*args, **kwargs))

    @abstractmethod
    def forward(self, *args, **kwargs):
        pass


class Weighted(ABC):
    """Anything that owns weights, some of which may be frozen."""

    @property
    @abstractmethod
    def weights(self) -> list:
        pass

    @property
    def trainable_variables(self) -> list:
        # BEGIN SOLUTION: return the weights whose trainable flag is True
        return [w for w in self.weights if w.trainable]
        # END SOLUTION

    @property
    def non_trainable_variables(self) -> list:
        # BEGIN SOLUTION: return the weights whose trainable flag is False
        return [w for w in self.weights if not w.trainable]
        # END SOLUTION

    @property
    def trainable(self) -> bool:
        # BEGIN SOLUTION: return True when any weight is trainable
        return any(w.trainable for w in self.weights)
        # END SOLUTION

    @trainable.setter
    def trainable(self, value: bool):
        # BEGIN SOLUTION: set the trainable flag of every weight to value
        for w in self.weights:
            w.trainable = value
        # END SOLUTION


def _sum_of_products(g, J):
    """sum_b g[b] * J[b] (element-wise, g[b] broadcast against J[b]) without a Python loop."""
    if g.shape[-1] == 1:
        # g[b] is a column (m, 1): the sum is an outer-product sum, i.e. a matrix product.
        return np.tensordot(g[..., 0], J, axes=(0, 0))
    return np.einsum("b...r,br->...r", g, J)


class Diffable(Callable, Weighted):
    """A Callable that knows its own gradients, so that a GradientTape can chain them.

    Conventions: N is the batch size; J is a list holding the upstream gradient, shape (N, r).
    A gradient g from get_*_gradients() is either shared by the whole batch (2-D, (m, r)) or
    one per sample (3-D, (N, m, r)).
    """

    gradient_tape = None

    def __call__(self, *args, **kwargs):
        signature = inspect.signature(self.forward)
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        self.argnames = list(signature.parameters)
        self.input_dict = dict(bound.arguments)
        self.inputs = [self.input_dict[name] for name in self.argnames]

        result = self.forward(*args, **kwargs)
        several = isinstance(result, (list, tuple))
        self.outputs = [_as_tensor(out) for out in (result if several else [result])]

        if Diffable.gradient_tape is not None:
            for out in self.outputs:
                Diffable.gradient_tape.previous_layers[id(out)] = self
        return self.outputs if several else self.outputs[0]

    @abstractmethod
    def get_input_gradients(self) -> list:
        pass

    @abstractmethod
    def get_weight_gradients(self) -> list:
        pass

    def compose_input_gradients(self, J=None):
        """Chain rule for the inputs: row b of each result is g_b @ J[0][b]."""
        if J is None or J[0] is None:
            return self.get_input_gradients()
        upstream = np.asarray(J[0])
        composed = []
        for inp, g in zip(self.inputs, self.get_input_gradients()):
            g = np.asarray(g)
            if g.ndim == 3:  # one Jacobian per sample
                rows = np.matmul(g, upstream[:, :, None])[:, :, 0]
            else:  # one Jacobian shared by the batch: g @ J_b for every row b
                rows = upstream @ g.T
            composed.append(_as_tensor(np.reshape(rows, np.shape(inp))))
        return composed

    def compose_weight_gradients(self, J=None):
        """Chain rule for the weights: sum over the batch of g_b * J[0][b], shaped like the weight."""
        if J is None or J[0] is None:
            return self.get_weight_gradients()
        upstream = np.asarray(J[0])
        composed = []
        for w, g in zip(self.weights, self.get_weight_gradients()):
            g = np.asarray(g)
            if g.ndim == 3:  # one gradient per sample
                total = _sum_of_products(g, upstream)
            else:  # shared by the batch, so the sum over b factors out
                total = g * upstream.sum(axis=0)
            composed.append(_as_tensor(np.reshape(total, np.shape(w))))
        return composed
