"""Models: layers trained together with an optimizer, a loss and a metric."""
from abc import abstractmethod
from collections import defaultdict

import numpy as np

from beras.core import Diffable, Tensor
from beras.gradient_tape import GradientTape

__all__ = ["print_stats", "update_metric_dict", "Model", "SequentialModel"]


def print_stats(stat_dict, batch_num=None, num_batches=None, epoch=None, avg=False):
    """Print one line of statistics: per batch (overwriting the line) or, with avg, epoch means."""
    title = ""
    if epoch is not None:
        title += f"Epoch {epoch + 1:2}: "
    if batch_num is not None:
        title += f"Batch {batch_num + 1:3}"
        if num_batches is not None:
            title += f"/{num_batches}"
    if avg:
        title += "Average Stats"
    summarise = np.mean if avg else (lambda v: v)
    stats = {k: round(float(summarise(v)), 4) for k, v in stat_dict.items()}
    print(f"\r - {title} : {stats}", end="\n" if avg else "   ", flush=True)


def update_metric_dict(super_dict, sub_dict):
    """Append the mean of each metric of sub_dict to the list of the same name in super_dict."""
    for name, value in sub_dict.items():
        super_dict.setdefault(name, []).append(float(np.mean(value)))


class Model(Diffable):
    def __init__(self, layers):
        self.layers = layers

    @property
    def weights(self) -> list:
        raise NotImplementedError("TODO: return the weights of every layer, in layer order")

    def compile(self, optimizer, loss_fn, acc_fn):
        self.optimizer = optimizer
        self.compiled_loss = loss_fn
        self.compiled_acc = acc_fn

    def __call__(self, *args, **kwargs):
        # A model is differentiated through its layers, so it does not record itself on the tape.
        return self.forward(*args, **kwargs)

    def get_input_gradients(self) -> list:
        raise TypeError("a Model is differentiated through its layers: use a GradientTape")

    def get_weight_gradients(self) -> list:
        raise TypeError("a Model is differentiated through its layers: use a GradientTape")

    @abstractmethod
    def batch_step(self, x, y, training=True):
        pass

    def fit(self, x, y, epochs, batch_size):
        """Train for epochs passes over (x, y one-hot); return {"loss": [...], "acc": [...]} per epoch."""
        raise NotImplementedError("TODO: for each epoch, run batch_step on consecutive batches and record the epoch's mean loss and acc")

    def evaluate(self, x, y, batch_size):
        """Return ({"loss": mean, "acc": mean} over the whole set, predictions for every row)."""
        raise NotImplementedError("TODO: run batch_step(training=False) on consecutive batches; average loss and acc weighting by batch size")


class SequentialModel(Model):
    def forward(self, inputs):
        raise NotImplementedError("TODO: call each layer in order on the previous one's output and return the last output")

    def batch_step(self, x, y, training=True):
        """One batch: {"loss", "acc"} after an update when training, else ({"loss", "acc"}, predictions)."""
        raise NotImplementedError("TODO: forward and loss under a GradientTape; when training, apply the gradients of the loss to the trainable variables")
