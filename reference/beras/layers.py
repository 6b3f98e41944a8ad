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
        # BEGIN SOLUTION: return x @ w + b for the whole batch, shape (N, output_size)
        return x @ self.w + self.b
        # END SOLUTION

    def get_input_gradients(self) -> list:
        # BEGIN SOLUTION: return [dy/dx]; it is w, shape (input_size, output_size), shared by the batch
        return [self.w]
        # END SOLUTION

    def get_weight_gradients(self) -> list:
        # BEGIN SOLUTION: return [dy/dw, dy/db]; dy/dw is x per sample, shape (N, input_size, 1), and dy/db is ones like b
        x = np.asarray(self.inputs[0])
        return [x[:, :, np.newaxis], np.ones_like(self.b)]
        # END SOLUTION

    @staticmethod
    def _initialize_weight(initializer, input_size, output_size):
        # BEGIN SOLUTION: return (w, b): w of shape (input_size, output_size) drawn as "zero", "normal", "xavier" or "kaiming" says, b zeros of shape (1, output_size); raise ValueError otherwise
        shape = (input_size, output_size)
        if initializer == "zero":
            w = np.zeros(shape)
        elif initializer == "normal":
            w = np.random.normal(0.0, 1.0, shape)
        elif initializer == "xavier":
            w = np.random.normal(0.0, np.sqrt(2.0 / (input_size + output_size)), shape)
        elif initializer == "kaiming":
            w = np.random.normal(0.0, np.sqrt(2.0 / input_size), shape)
        else:
            raise ValueError(
                f"unknown initializer {initializer!r}: use 'zero', 'normal', 'xavier' or 'kaiming'"
            )
        return w, np.zeros((1, output_size))
        # END SOLUTION
