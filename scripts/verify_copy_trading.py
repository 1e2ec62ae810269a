"""Copy mode, masters, followers and expected follower sizes for a sample master trade.

Usage: python scripts/verify_copy_trading.py [--json] [--running] (see --help).
Exit 0 ready, 1 blocked, 2 bad usage.
"""

import sys

import _repo_path  # noqa: F401 - the repository root on sys.path, so `bot` imports from any directory

from bot.console.exits import run_main

if __name__ == "__main__":
    sys.exit(run_main("bot.diagnostics.commands:verify_copy"))
