from calc.good import *  # noqa: F401,F403
from calc.good import Counter, SPEED, add, mean, scale  # noqa: F401
