"""NIJA: a multi-broker trading bot with master accounts and copy trading."""
