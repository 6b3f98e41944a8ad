"""Worker-side helpers for the Tensor tests (source sent to the worker, never imported)."""
import numpy as np


def derived(tensor):
    """Views and results of arithmetic made from `tensor` (a 2-D Tensor), by name."""
    return {
        "t[1:]": tensor[1:],
        "t.T": tensor.T,
        "t.reshape(-1)": tensor.reshape(-1),
        "t + 1": tensor + 1,
        "2 * t": 2 * tensor,
        "-t": -tensor,
        "t @ t.T": tensor @ tensor.T,
    }


def trainable_flags(tensor):
    """The `trainable` flag of each derived value (None where it has none)."""
    return {name: (bool(value.trainable) if hasattr(value, "trainable") else None)
            for name, value in derived(tensor).items()}


def kinds(tensor):
    return {name: type(value).__name__ for name, value in derived(tensor).items()}


def ids(items):
    return [id(item) for item in items]
