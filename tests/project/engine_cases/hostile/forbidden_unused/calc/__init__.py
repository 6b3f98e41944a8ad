import tensorflow as tf  # noqa: F401  (an old handout's line; never used)

from calc.good import Counter, SPEED, add, mean, scale  # noqa: F401
