from tensorflow.keras import layers
import torch.nn as nn


def build():
    return layers.Dense(3)


def torch_layer():
    return nn.Linear(2, 3)
