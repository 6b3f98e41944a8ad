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
        raise NotImplementedError("TODO: return the mean of (y_pred - y_true) ** 2 over all N * C elements")

    def get_input_gradients(self) -> list:
        raise NotImplementedError("TODO: return [d loss / d y_pred, d loss / d y_true]")


class CategoricalCrossEntropy(Loss):
    # Probabilities are clipped to [EPSILON, 1 - EPSILON] so that log() stays finite.
    EPSILON = 1e-7

    def forward(self, y_pred, y_true):
        raise NotImplementedError("TODO: return the batch mean of -sum_c y_true * log(clip(y_pred, eps, 1 - eps))")

    def get_input_gradients(self) -> list:
        raise NotImplementedError("TODO: return [d loss / d y_pred, d loss / d y_true]; mind the 1/N of the batch mean")
