"""The verbs of `python -m autograder` that are the engine's own, one module each (the table
from verb to module is autograder/cli.py). Exit codes, shared by every verb:
0 success, 1 the run found problems, 2 usage error, 3 grader (internal) error."""

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_GRADER = 0, 1, 2, 3
PROG = "python -m autograder"
