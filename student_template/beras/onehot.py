"""One-hot encoding of class labels."""
import numpy as np

from beras.core import Callable

__all__ = ["OneHotEncoder"]


class OneHotEncoder(Callable):
    """Maps labels to one-hot rows, one column per distinct label seen by fit (sorted)."""

    def fit(self, data):
        raise NotImplementedError("TODO: learn the sorted distinct labels of data")

    def forward(self, data):
        raise NotImplementedError("TODO: return the (n, k) one-hot matrix of data (fit first if not fitted yet)")

    def inverse(self, data):
        raise NotImplementedError("TODO: return the labels of the one-hot rows of data")
