"""Optimizers: update parameters in place from their gradients.

apply_gradients(trainable_params, grads) pairs parameters and gradients by position and keeps
per-parameter state (by that position) between calls.
"""
from collections import defaultdict

import numpy as np

__all__ = ["BasicOptimizer", "RMSProp", "Adam"]


class BasicOptimizer:
    def __init__(self, learning_rate):
        self.learning_rate = learning_rate

    def apply_gradients(self, trainable_params, grads):
        raise NotImplementedError("TODO: for each pair, p -= learning_rate * g, in place")


class RMSProp:
    def __init__(self, learning_rate, beta=0.9, epsilon=1e-6):
        self.learning_rate = learning_rate
        self.beta = beta
        self.epsilon = epsilon
        self.v = defaultdict(lambda: 0)

    def apply_gradients(self, trainable_params, grads):
        raise NotImplementedError("TODO: v = beta v + (1 - beta) g^2; p -= lr g / (sqrt(v) + epsilon), in place")


class Adam:
    def __init__(self, learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
        self.amsgrad = amsgrad
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.m = defaultdict(lambda: 0)
        self.v = defaultdict(lambda: 0)
        self.t = 0

    def apply_gradients(self, trainable_params, grads):
        raise NotImplementedError("TODO: t += 1; update m and v; p -= lr m_hat / (sqrt(v_hat) + epsilon), in place")
