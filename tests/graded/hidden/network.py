"""12.1's oracle: the trained network, evaluated on the trusted side, on privately perturbed images.

Trusted-only (hidden/: never in the kit, never sent to a worker). The worker trains the
student's model; this side then reads the model's layers and weights as plain data and
computes the predictions itself, for the homework's layer types only. The test images are
moved by a sub-pixel shift and light noise drawn from a seed in `private.cfg` (beside this
file, which no worker can read), so no table of the public test images matches them, and
nothing the worker computes is taken as a prediction. The classes are renumbered by a private
permutation for training and testing, so that only what the model learns from the data sent
counts (weights or labels prepared in advance use the public numbering).
"""
from __future__ import annotations

import configparser
from pathlib import Path
from typing import NamedTuple

import numpy as np

from replies import fetch
from autograder.untrusted import code_span
from hidden import closed_forms as C

PRIVATE = Path(__file__).resolve().parent / "private.cfg"
SIDE = 28
# Measured (tests/project/test_suite_oracle.py and the commit that introduced this): a shift of
# up to 0.3 pixel along each axis and noise of std 0.03 leave the reference's accuracy within
# 0.7 points of the original over 5 seeds, for the single-layer and the two-layer models; a
# whole-pixel shift costs a linear model about 9 points, so it would change grades.
MAX_SHIFT_PX, NOISE_STD = 0.3, 0.03
LAYER_TYPES = "Dense, LeakyReLU, ReLU, Sigmoid and Softmax"
MAX_DEPTH = 3  # models nested in models
# The widest Dense layer whose weights are read back: 8 times the two-layer handout's hidden
# layer (784 x 128), wider than trains within 12.1's time limit.
WIDEST = 1024


class Layer(NamedTuple):
    kind: str       # "Dense", "LeakyReLU", "Sigmoid", "Softmax"
    params: tuple   # Dense: (w, b); LeakyReLU: (alpha,); else ()


class NotEvaluable(Exception):
    """The model is not made of layers this side can evaluate; the message says why (Markdown)."""


def private_seed() -> int:
    parser = configparser.ConfigParser()
    if not parser.read(PRIVATE):
        raise RuntimeError(f"{PRIVATE} is missing: the course's private seed for 12.1's test images")
    return parser.getint("test_images", "seed")


def class_permutation(seed: int) -> np.ndarray:
    """A private relabelling of the 10 classes that moves every class (a derangement):
    relabel[c] is the class number that digit c is trained and tested under. A correct model
    learns it from the data as easily as the original numbering; weights or labels prepared
    in advance answer with the public numbering, and miss every image."""
    rng = np.random.default_rng([seed, 10])
    while True:
        relabel = rng.permutation(10)
        if np.all(relabel != np.arange(10)):
            return relabel


def shifted(images: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Each image moved by whole pixels (dy down, dx right), zeros coming in."""
    out = np.zeros_like(images)
    rows_to, rows_from = slice(max(dy, 0), SIDE + min(dy, 0)), slice(max(-dy, 0), SIDE + min(-dy, 0))
    cols_to, cols_from = slice(max(dx, 0), SIDE + min(dx, 0)), slice(max(-dx, 0), SIDE + min(-dx, 0))
    out[:, rows_to, cols_to] = images[:, rows_from, cols_from]
    return out


def perturbed(images: np.ndarray, seed: int) -> np.ndarray:
    """(N, 784) images in [0, 1], each moved by its own sub-pixel shift (linear interpolation
    towards its neighbour, up to MAX_SHIFT_PX along each axis) plus Gaussian noise, clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    n = len(images)
    out = np.asarray(images, dtype=np.float64).reshape(n, SIDE, SIDE)
    for axis in (0, 1):
        amount = rng.uniform(-MAX_SHIFT_PX, MAX_SHIFT_PX, n)[:, None, None]
        forward = shifted(out, *((1, 0) if axis == 0 else (0, 1)))
        backward = shifted(out, *((-1, 0) if axis == 0 else (0, -1)))
        out = (1 - np.abs(amount)) * out + np.abs(amount) * np.where(amount > 0, forward, backward)
    out = out + rng.normal(0.0, NOISE_STD, out.shape)
    return np.clip(out, 0.0, 1.0).reshape(n, -1).astype(np.float32)


def read_network(worker, beras, model) -> list:
    """The model's layers as plain data (kind and weights), read from the worker, in order."""
    builtins = worker.import_module("builtins")
    classes = [(kind, builtins.getattr(module, kind, None)) for kind, module in (
        ("Dense", beras.layers), ("Softmax", beras.activations), ("Sigmoid", beras.activations),
        ("ReLU", beras.activations), ("LeakyReLU", beras.activations))]
    found: list = []
    _read(worker, builtins, [kind_class for kind_class in classes if kind_class[1] is not None], model, found, 0)
    return found


def _read(worker, builtins, classes, model, found, depth):
    layers = builtins.getattr(model, "layers", None)
    if layers is None or not fetch(builtins.isinstance(layers, (builtins.list, builtins.tuple))):
        raise NotEvaluable("Your model has no `layers` list (a `SequentialModel` sets it), so its "
                           "layers cannot be evaluated.")
    for layer in worker.list(layers):
        kind = next((kind for kind, cls in classes if fetch(builtins.isinstance(layer, cls))), None)
        if kind is None:
            if depth < MAX_DEPTH and fetch(builtins.hasattr(layer, "layers")):
                _read(worker, builtins, classes, layer, found, depth + 1)
                continue
            raise NotEvaluable(
                f"This test computes your trained model's accuracy itself, from its layers' weights, for the "
                f"homework's layer types: {LAYER_TYPES} (your own classes). Layer {len(found) + 1} of your "
                f"model is a {code_span(worker.type_name(layer))}, which it cannot evaluate, so no accuracy "
                f"can be credited.")
        found.append(_layer(builtins, kind, layer, len(found) + 1))


def _layer(builtins, kind, layer, position) -> Layer:
    if kind == "Dense":
        weights = fetch(builtins.getattr(layer, "weights", None), (WIDEST, WIDEST), (1, WIDEST))
        if not (isinstance(weights, (list, tuple)) and len(weights) == 2
                and all(isinstance(v, np.ndarray) for v in weights)):
            raise NotEvaluable(f"Layer {position} of your model is a Dense layer whose `weights` is not "
                               f"`[w, b]` (two arrays).")
        w, b = (np.asarray(v, dtype=np.float64) for v in weights)
        if w.ndim != 2 or b.size != w.shape[1]:
            raise NotEvaluable(f"Layer {position} of your model is a Dense layer with w of shape {w.shape} and "
                               f"b of shape {b.shape}; expected (m, r) and (1, r).")
        return Layer("Dense", (w, b.reshape(1, -1)))
    if kind in ("ReLU", "LeakyReLU"):
        alpha = fetch(builtins.getattr(layer, "alpha", 0.0 if kind == "ReLU" else None))
        if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not np.isfinite(alpha):
            raise NotEvaluable(f"Layer {position} of your model is a {kind} whose `alpha` is not a number.")
        return Layer("LeakyReLU", (float(alpha),))
    return Layer(kind, ())


def predict(network: list, images: np.ndarray, batch: int = 2000) -> np.ndarray:
    """The class each image gets from the network (argmax of its output), computed here."""
    width = images.shape[1]
    for position, layer in enumerate(network, start=1):
        if layer.kind == "Dense":
            if layer.params[0].shape[0] != width:
                raise NotEvaluable(f"Layer {position} of your model is a Dense layer taking {layer.params[0].shape[0]} "
                                   f"inputs, but it receives {width}.")
            width = layer.params[0].shape[1]
    if width != 10:
        raise NotEvaluable(f"Your model gives {width} outputs per image; a classifier of the 10 digits gives 10.")
    classes = []
    with np.errstate(all="ignore"):  # a diverged model's inf and nan are its accuracy's business
        for start in range(0, len(images), batch):
            out = np.asarray(images[start:start + batch], dtype=np.float64)
            for layer in network:
                if layer.kind == "Dense":
                    out = out @ layer.params[0] + layer.params[1]
                elif layer.kind == "LeakyReLU":
                    out = C.leaky_relu(out, layer.params[0])
                elif layer.kind == "Sigmoid":
                    out = C.sigmoid(out)
                else:
                    out = C.softmax(out)
            classes.append(np.argmax(np.nan_to_num(out, nan=-np.inf), axis=1))
    return np.concatenate(classes) if classes else np.zeros(0, dtype=np.int64)
