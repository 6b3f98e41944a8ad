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
        # BEGIN SOLUTION: for each pair, p -= learning_rate * g, in place
        for p, g in zip(trainable_params, grads):
            p -= self.learning_rate * np.asarray(g)
        # END SOLUTION


class RMSProp:
    def __init__(self, learning_rate, beta=0.9, epsilon=1e-6):
        self.learning_rate = learning_rate
        self.beta = beta
        self.epsilon = epsilon
        self.v = defaultdict(lambda: 0)

    def apply_gradients(self, trainable_params, grads):
        # BEGIN SOLUTION: v = beta v + (1 - beta) g^2; p -= lr g / (sqrt(v) + epsilon), in place
        for i, (p, g) in enumerate(zip(trainable_params, grads)):
            g = np.asarray(g)
            self.v[i] = self.beta * self.v[i] + (1 - self.beta) * g**2
            p -= self.learning_rate * g / (np.sqrt(self.v[i]) + self.epsilon)
        # END SOLUTION


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
        # BEGIN SOLUTION: t += 1; update m and v; p -= lr m_hat / (sqrt(v_hat) + epsilon), in place
        self.t += 1
        for i, (p, g) in enumerate(zip(trainable_params, grads)):
            g = np.asarray(g)
            self.m[i] = self.beta_1 * self.m[i] + (1 - self.beta_1) * g
            self.v[i] = self.beta_2 * self.v[i] + (1 - self.beta_2) * g**2
            m_hat = self.m[i] / (1 - self.beta_1**self.t)
            v_hat = self.v[i] / (1 - self.beta_2**self.t)
            p -= self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)
        # END SOLUTION
