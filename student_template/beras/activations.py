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
        raise NotImplementedError("TODO: return x where x > 0, else alpha * x")

    def get_input_gradients(self) -> list:
        raise NotImplementedError("TODO: return [1 where x > 0 else alpha], shaped like x")

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
        raise NotImplementedError("TODO: return 1 / (1 + exp(-x)) without overflow for large |x|")

    def get_input_gradients(self) -> list:
        raise NotImplementedError("TODO: return [y * (1 - y)] where y is the output")

    def compose_input_gradients(self, J=None):
        # Element-wise function: its Jacobian is diagonal, so the chain rule is a product.
        if J is None or J[0] is None:
            return self.get_input_gradients()
        return [self.get_input_gradients()[0] * J[0]]


class Softmax(Activation):
    def forward(self, x):
        raise NotImplementedError("TODO: return the softmax of each row (last axis), stable for large logits")

    def get_input_gradients(self) -> list:
        raise NotImplementedError("TODO: return [J] with J[b] = diag(y_b) - outer(y_b, y_b), shape (N, n, n)")
