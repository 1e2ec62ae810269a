"""A skipped entry is said once per signal candle, not on every pass that sees the same signal again (the demo's
console repeated "no entry on BTC-USD: already holding" six times a candle)."""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.conftest import start_run


def test_each_skip_is_logged_once_per_signal_candle(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Passes every 150 simulated s on 15-minute candles: six passes see each candle's signals.
    run = start_run(tmp_path, ("kraken",), SIM_MARKETS="4", PAPER_CANDLE_MINUTES="15", STRATEGY_CYCLE_SECONDS="150",
                    MONITOR_SECONDS="150", LOW_CAPITAL_MONITOR_SECONDS="150")
    try:
        with caplog.at_level(logging.INFO, logger="bot.trading.strategy_account"):
            run.trader.start()
            run.run_for(3 * 3600)
    finally:
        run.trader.stop()
        run.trader.close_brokers()
        run.store.close()
        run.session.close()
    skips = [r.getMessage() for r in caplog.records if r.getMessage().startswith("no entry on ")]
    assert skips, "the run saw no skipped entry: nothing was checked"
    per_symbol = Counter(re.match(r"no entry on (\S+):", line).group(1) for line in skips)  # type: ignore[union-attr]
    assert max(per_symbol.values()) <= 2, per_symbol  # once per signal candle: a set-up has one or two
