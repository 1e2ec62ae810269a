"""Put the repository root on sys.path, so `python scripts/<name>.py` imports `bot` from any working directory.

Python puts a script's own folder (scripts/) on sys.path, so the scripts here import this module first.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
