"""Engine cases are data for the engine's tests (suites and submissions), not project tests:
the project's run must not collect them. The engine grades them with --confcutdir set to
their course folder, so this file is never loaded there."""
collect_ignore_glob = ["*"]
