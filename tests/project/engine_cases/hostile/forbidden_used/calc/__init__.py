import tensorflow as tf

from calc.good import Counter, SPEED, mean, scale  # noqa: F401


def add(a, b):
    return tf.add(a, b)
