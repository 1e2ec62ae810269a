"""NIJA: a multi-broker trading bot with master accounts and copy trading."""

__version__ = "0.1.0"  # kept equal to pyproject.toml's version (a test checks)
