"""The console's tables and progress bar: boxed and coloured on a terminal, plain text in a pipe or a file."""

from __future__ import annotations

import io
import re

from bot.console.progress import ProgressBar, progress_bar
from bot.console.tables import Column, is_terminal, render_table
from bot.trading.summary import AccountSummary, render_summary

ESCAPE = "\x1b["


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


ROWS = [AccountSummary("kraken:master", "master", "TRADING", 3, 2, 1, 10_000.0, 10_100.5, 100.5, ("BTC-USD 0.01",),
                       "healthy", 0),
        AccountSummary("kraken:demo_user_1", "user", "AUTH_FAILED", 0, 0, 0, None, None, None, (), "-", 0)]


def test_a_table_in_a_pipe_is_plain_aligned_text_with_every_figure() -> None:
    text = render_summary(ROWS, terminal=False)
    assert ESCAPE not in text and "final summary per account (this run)" in text
    master = next(line for line in text.splitlines() if "kraken:master" in line)
    assert "10,000.00" in master and "10,100.50" in master and "+100.50" in master and "BTC-USD 0.01" in master
    assert all(line == line.rstrip() for line in text.splitlines())


def test_a_table_on_a_narrow_terminal_is_coloured_and_never_cuts_a_figure() -> None:
    text = render_summary(ROWS, terminal=True)
    assert ESCAPE in text and "╭" in text
    assert "10,100.50" in text and "AUTH_FAILED" in text and "kraken:demo_user_1" in text and "…" not in text


def test_long_text_wraps_inside_its_column_on_a_terminal() -> None:
    reason = "a reason long enough to wrap " * 6
    text = render_table("t", (Column("account"), Column("reason", wraps=True)), [("kraken:master", reason)],
                        terminal=True, width=60)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert max(len(line) for line in plain.splitlines()) <= 60 and len(plain.splitlines()) > 5
    assert text.count("kraken:master") == 1


def test_is_terminal_asks_the_stream() -> None:
    assert is_terminal(Terminal()) and not is_terminal(io.StringIO()) and not is_terminal(object())


def test_the_progress_bar_draws_only_on_a_terminal() -> None:
    quiet = io.StringIO()
    with progress_bar("loading", 3, quiet) as bar:
        for name in ("a", "b", "c"):
            bar.advance(name)
    assert not bar.drawn and quiet.getvalue() == "" and bar.done == 3
    shown = Terminal()
    live = ProgressBar("loading candle files", 2, shown)
    assert live.drawn
    live.advance("BTC-USD_1h.csv.gz")
    live.advance("ETH-USD_1h.csv.gz")  # the last item closes it
    assert not live.drawn and "loading candle files" in shown.getvalue()
