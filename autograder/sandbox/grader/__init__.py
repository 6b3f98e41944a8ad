"""The trusted side: what runs in the grading process."""
