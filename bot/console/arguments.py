"""Argument types for command-line options: a bad value is argparse's one line, never a traceback later."""

from __future__ import annotations

import argparse
import math

MAX_DURATION_SECONDS = 10 * 365 * 86_400.0  # a bound on a typo; Ctrl-C or SIGTERM stop a longer run


def duration_seconds(text: str) -> float:
    """Real seconds: a finite number from 0 to ten years (threading.Timer overflows on inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 0 <= value <= MAX_DURATION_SECONDS:
        raise argparse.ArgumentTypeError(f"{text}: expected seconds from 0 to {MAX_DURATION_SECONDS:g}")
    return value
