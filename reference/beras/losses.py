"""Losses: a scalar from predictions and targets, with gradients for both."""
import numpy as np

from beras.core import Diffable

__all__ = ["Loss", "MeanSquaredError", "CategoricalCrossEntropy"]


class Loss(Diffable):
    """A Diffable without weights whose forward(y_pred, y_true) returns a scalar."""

    @property
    def weights(self) -> list:
        return []

    def get_weight_gradients(self) -> list:
        return []


class MeanSquaredError(Loss):
    def forward(self, y_pred, y_true):
        # BEGIN SOLUTION: return the mean of (y_pred - y_true) ** 2 over all N * C elements
        return np.mean((np.asarray(y_pred) - np.asarray(y_true)) ** 2)
        # END SOLUTION

    def get_input_gradients(self) -> list:
        # BEGIN SOLUTION: return [d loss / d y_pred, d loss / d y_true]
        y_pred, y_true = (np.asarray(v) for v in self.inputs)
        grad = 2.0 * (y_pred - y_true) / y_pred.size
        return [grad, -grad]
        # END SOLUTION


class CategoricalCrossEntropy(Loss):
    # Probabilities are clipped to [EPSILON, 1 - EPSILON] so that log() stays finite.
    EPSILON = 1e-7

    def forward(self, y_pred, y_true):
        # BEGIN SOLUTION: return the batch mean of -sum_c y_true * log(clip(y_pred, eps, 1 - eps))
        probs = np.clip(y_pred, self.EPSILON, 1.0 - self.EPSILON)
        return -np.mean(np.sum(np.asarray(y_true) * np.log(probs), axis=-1))
        # END SOLUTION

    def get_input_gradients(self) -> list:
        # BEGIN SOLUTION: return [d loss / d y_pred, d loss / d y_true]; mind the 1/N of the batch mean
        y_pred, y_true = (np.asarray(v) for v in self.inputs)
        probs = np.clip(y_pred, self.EPSILON, 1.0 - self.EPSILON)
        n = y_pred.shape[0]
        return [-y_true / probs / n, -np.log(probs) / n]
        # END SOLUTION
