"""Activation functions: element-wise (LeakyReLU, ReLU, Sigmoid) and row-wise (Softmax)."""
import numpy as np

from beras.core import Diffable

__all__ = ["Activation", "LeakyReLU", "ReLU", "Sigmoid", "Softmax"]


class Activation(Diffable):
    """A layer without weights."""

    @property
    def weights(self) -> list:
        return []

    def get_weight_gradients(self) -> list:
        return []


class LeakyReLU(Activation):
    def __init__(self, alpha=0.3):
        self.alpha = alpha

    def forward(self, x):
        # BEGIN SOLUTION: return x where x > 0, else alpha * x
        return np.where(x > 0, x, self.alpha * x)
        # END SOLUTION

    def get_input_gradients(self) -> list:
        # BEGIN SOLUTION: return [1 where x > 0 else alpha], shaped like x
        x = np.asarray(self.inputs[0])
        return [np.where(x > 0, 1.0, self.alpha)]
        # END SOLUTION

    def compose_input_gradients(self, J=None):
        # Element-wise function: its Jacobian is diagonal, so the chain rule is a product.
        if J is None or J[0] is None:
            return self.get_input_gradients()
        return [self.get_input_gradients()[0] * J[0]]


class ReLU(LeakyReLU):
    def __init__(self):
        super().__init__(alpha=0)


class Sigmoid(Activation):
    def forward(self, x):
        # BEGIN SOLUTION: return 1 / (1 + exp(-x)) without overflow for large |x|
        # exp(-|x|) never overflows; the two branches are the same function rearranged.
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        # END SOLUTION

    def get_input_gradients(self) -> list:
        # BEGIN SOLUTION: return [y * (1 - y)] where y is the output
        y = np.asarray(self.outputs[0])
        return [y * (1.0 - y)]
        # END SOLUTION

    def compose_input_gradients(self, J=None):
        # Element-wise function: its Jacobian is diagonal, so the chain rule is a product.
        if J is None or J[0] is None:
            return self.get_input_gradients()
        return [self.get_input_gradients()[0] * J[0]]


class Softmax(Activation):
    def forward(self, x):
        # BEGIN SOLUTION: return the softmax of each row (last axis), stable for large logits
        # Subtracting the row maximum leaves softmax unchanged and keeps exp() <= 1.
        shifted = np.exp(x - np.max(x, axis=-1, keepdims=True))
        return shifted / np.sum(shifted, axis=-1, keepdims=True)
        # END SOLUTION

    def get_input_gradients(self) -> list:
        # BEGIN SOLUTION: return [J] with J[b] = diag(y_b) - outer(y_b, y_b), shape (N, n, n)
        y = np.asarray(self.outputs[0])
        diagonal = y[:, :, np.newaxis] * np.eye(y.shape[-1])
        return [diagonal - y[:, :, np.newaxis] * y[:, np.newaxis, :]]
        # END SOLUTION
