"""Layers with weights."""
import numpy as np

from beras.core import Diffable, Variable

__all__ = ["Dense"]


class Dense(Diffable):
    """A fully connected layer: y = x @ w + b, mapping (N, m) to (N, r)."""

    def __init__(self, input_size, output_size, initializer="normal"):
        w, b = self._initialize_weight(initializer, input_size, output_size)
        self.w, self.b = Variable(w), Variable(b)

    @property
    def weights(self) -> list:
        return [self.w, self.b]

    def forward(self, x):
        raise NotImplementedError("TODO: return x @ w + b for the whole batch, shape (N, output_size)")

    def get_input_gradients(self) -> list:
        raise NotImplementedError("TODO: return [dy/dx]; it is w, shape (input_size, output_size), shared by the batch")

    def get_weight_gradients(self) -> list:
        raise NotImplementedError("TODO: return [dy/dw, dy/db]; dy/dw is x per sample, shape (N, input_size, 1), and dy/db is ones like b")

    @staticmethod
    def _initialize_weight(initializer, input_size, output_size):
        raise NotImplementedError("TODO: return (w, b): w of shape (input_size, output_size) drawn as \"zero\", \"normal\", \"xavier\" or \"kaiming\" says, b zeros of shape (1, output_size); raise ValueError otherwise")
