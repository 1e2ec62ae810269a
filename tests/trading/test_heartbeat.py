"""The console's status line per brokerage (bot.trading.heartbeat) on a real paper trader stepped by a ManualClock."""

from __future__ import annotations

import io
import re
from pathlib import Path

from bot.trading.heartbeat import Heartbeat, status_lines
from tests.e2e.conftest import start_run


def test_each_brokerage_line_says_what_the_scan_saw_what_is_held_and_when_the_next_candle_closes(
    tmp_path: Path,
) -> None:
    run = start_run(tmp_path, ("kraken", "coinbase"), SIM_MARKETS="6")
    try:
        run.trader.start()
        before = status_lines(run.trader)
        assert sorted(line.split("]")[0] for line in before) == ["[coinbase", "[kraken"]
        run.run_for(3 * 3600)
        lines = status_lines(run.trader)
        for line in lines:
            assert re.search(r"scanned \d+ of 6 markets on the \d\d-\d\d \d\d:\d\d candle: ", line), line
            assert "signal" in line and re.search(r"\d+ open positions?, \d+ fills?", line), line
            assert re.search(r"next candle closes in \d+ s$", line), line  # a ManualClock has no simulated speed
        assert any(int(m.group(1)) > 0 for line in lines if (m := re.search(r"(\d+) fills?", line)))
    finally:
        run.trader.stop()
        run.trader.close_brokers()
        run.store.close()
        run.session.close()


def test_the_heartbeat_prints_a_line_per_brokerage_and_its_thread_stops_at_once(tmp_path: Path) -> None:
    run = start_run(tmp_path, ("kraken",), SIM_MARKETS="4")
    out = io.StringIO()
    try:
        run.trader.start()
        run.run_for(1800)
        heartbeat = Heartbeat(run.trader, 3600.0, out)
        heartbeat.beat()
        assert out.getvalue().startswith("[kraken] scanned ") and out.getvalue().count("\n") == 1
        heartbeat.start()
        heartbeat.stop()  # its wait ends at once, not after the hour
        heartbeat.join(5)
        assert not heartbeat.is_alive()
    finally:
        run.trader.stop()
        run.trader.close_brokers()
        run.store.close()
        run.session.close()
