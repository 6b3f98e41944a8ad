"""GradientTape: records which layer produced each Tensor, then applies the chain rule backwards."""
from collections import defaultdict, deque

import numpy as np

from beras.core import Diffable

__all__ = ["GradientTape"]


class GradientTape:
    def __init__(self):
        # id(output Tensor) -> the Diffable that produced it (None when it was not produced here)
        self.previous_layers = defaultdict(lambda: None)

    def __enter__(self):
        if Diffable.gradient_tape is not None:
            raise RuntimeError("Cannot nest gradient tape scopes.")
        Diffable.gradient_tape = self
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        Diffable.gradient_tape = None

    def gradient(self, target, sources) -> list:
        """d target / d source for each source (shaped like it), for a scalar target."""
        raise NotImplementedError("TODO: walk back breadth-first from target through previous_layers, composing input and weight gradients; return one gradient per source")
