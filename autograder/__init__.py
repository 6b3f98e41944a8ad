"""The Beras autograder engine: isolated execution, a pytest plugin, Gradescope results."""
