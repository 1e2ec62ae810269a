"""Each brokerage has its own master, threads and users, and a fault in one is isolated.

Usage: python scripts/verify_master_broker_independence.py [--json] [--running] (see --help).
Exit 0 ready, 1 blocked, 2 bad usage.
"""

import sys

import _repo_path  # noqa: F401 - the repository root on sys.path, so `bot` imports from any directory

from bot.diagnostics.commands import verify_independence

if __name__ == "__main__":
    sys.exit(verify_independence(sys.argv[1:]))
