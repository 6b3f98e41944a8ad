# Not hostile: reports what the worker process is (test_hostile checks the answers).
import os
import sys

from calc.good import Counter, SPEED, add, mean, scale  # noqa: F401

print("hypothesis loaded:", "hypothesis" in sys.modules)
print("pytest loaded:", "pytest" in sys.modules)
print("running as root:", os.getuid() == 0)
