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
        # BEGIN SOLUTION: walk back breadth-first from target through previous_layers, composing input and weight gradients; return one gradient per source
        # A Tensor may feed several layers, so it is passed back only once every layer that
        # read it has added its share: count those readers first.
        readers = defaultdict(int)
        visited = set()
        queue = deque([target])
        while queue:
            layer = self.previous_layers[id(queue.popleft())]
            if layer is None or id(layer) in visited:
                continue
            visited.add(id(layer))
            for inp in layer.inputs:
                readers[id(inp)] += 1
                queue.append(inp)

        upstream = {id(target): None}  # None: the target itself, whose gradient is 1
        grads = {}
        queue = deque([target])
        while queue:
            tensor = queue.popleft()
            layer = self.previous_layers[id(tensor)]
            if layer is None:
                continue
            J = upstream[id(tensor)]
            J = None if J is None else [J]
            for inp, g in zip(layer.inputs, layer.compose_input_gradients(J)):
                key = id(inp)
                upstream[key] = g if upstream.get(key) is None else upstream[key] + g
                grads[key] = upstream[key]
                readers[key] -= 1
                if readers[key] == 0:
                    queue.append(inp)
            for w, g in zip(layer.weights, layer.compose_weight_gradients(J)):
                grads[id(w)] = g if id(w) not in grads else grads[id(w)] + g

        # A source the target does not depend on has a zero gradient.
        return [grads.get(id(s), np.zeros(np.shape(s))) for s in sources]
        # END SOLUTION
