"""Beras: a small Keras-like deep learning library written in NumPy."""
from beras.core import *
from beras.layers import *
from beras.activations import *
from beras.losses import *
from beras.metrics import *
from beras.onehot import *
from beras.optimizers import *
from beras.gradient_tape import *
from beras.model import *
