"""Everything about Kraken for every Kraken account, ending with a one-line verdict.

Usage: python scripts/verify_kraken_trading_enabled.py [--json] [--running] (see --help).
Exit 0 when ready, 1 when something blocks trading, 2 on bad usage.
The logic lives in bot.diagnostics; this file only calls it.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.diagnostics.commands import verify_kraken  # noqa: E402 - after the repository root is on sys.path

if __name__ == "__main__":
    sys.exit(verify_kraken(sys.argv[1:]))
