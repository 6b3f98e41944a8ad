"""Data and helpers for the engine's own tests (see README.md here)."""
