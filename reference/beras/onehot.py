"""One-hot encoding of class labels."""
import numpy as np

from beras.core import Callable

__all__ = ["OneHotEncoder"]


class OneHotEncoder(Callable):
    """Maps labels to one-hot rows, one column per distinct label seen by fit (sorted)."""

    def fit(self, data):
        # BEGIN SOLUTION: learn the sorted distinct labels of data
        self.categories = np.unique(np.asarray(data))
        # END SOLUTION

    def forward(self, data):
        # BEGIN SOLUTION: return the (n, k) one-hot matrix of data (fit first if not fitted yet)
        data = np.asarray(data)
        if not hasattr(self, "categories"):
            self.fit(data)
        columns = np.searchsorted(self.categories, data)
        columns = np.minimum(columns, len(self.categories) - 1)
        unknown = self.categories[columns] != data
        if np.any(unknown):
            raise ValueError(f"labels never seen by fit: {np.unique(data[unknown]).tolist()}")
        onehot = np.zeros((data.shape[0], len(self.categories)))
        onehot[np.arange(data.shape[0]), columns] = 1.0
        return onehot
        # END SOLUTION

    def inverse(self, data):
        # BEGIN SOLUTION: return the labels of the one-hot rows of data
        return self.categories[np.argmax(np.asarray(data), axis=-1)]
        # END SOLUTION
