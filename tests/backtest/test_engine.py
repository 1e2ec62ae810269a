"""The backtester: money is conserved, fills follow the live rules, followers are sized by the copy rules."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.backtest.data import find_files, read_candles
from bot.backtest.engine import Account, BacktestResult, run_backtest
from bot.backtest.report import account_report
from bot.backtest.rules import MarketRules, market_rules
from bot.config.settings import Settings
from bot.strategy.apex import EntrySignal, signal_frame
from bot.strategy.fees import with_fees
from bot.strategy.indicators import compute_indicators

HOUR = 3600


def floor8(value: float) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN))


@pytest.fixture(scope="module")
def coinbase_frames(data_dir: Path) -> dict[str, pd.DataFrame]:
    return {f.pair: read_candles(f.path) for f in find_files(data_dir / "coinbase", "1h")}


@pytest.fixture(scope="module")
def full_run(coinbase_frames: dict[str, pd.DataFrame]) -> BacktestResult:
    settings = Settings()
    return run_backtest(coinbase_frames, settings, market_rules("coinbase", settings),
                        balance=1_000.0, followers=6, candle_seconds=HOUR)


def assert_money_is_conserved(account: Account, rules: MarketRules) -> None:
    """With everything closed: final equity - start = sum of trade P&L, and fees = fee rate x turnover."""
    assert not account.books
    final = account.equity_curve[-1]
    assert final == pytest.approx(account.cash)
    assert account.cash >= 0
    pnl = sum(t.pnl for t in account.trades)
    assert final - account.start_balance == pytest.approx(pnl, abs=1e-6)
    f = rules.fee_rate
    turnover = sum(t.cost / (1 + f) + t.proceeds / (1 - f) for t in account.trades)
    assert account.fees == pytest.approx(f * turnover, rel=1e-9)


def test_whole_run_conserves_money_for_every_account(full_run: BacktestResult) -> None:
    master = full_run.accounts[0]
    assert len(master.trades) >= 5
    assert not master.books  # the master's money is checked below, not skipped
    for account in full_run.accounts:
        if account.books:  # still holding at the end of the data: equity includes it at the last close
            continue
        assert_money_is_conserved(account, full_run.rules)
    assert master.fees > 0


def test_followers_copy_every_trade_they_can_afford(
    full_run: BacktestResult, coinbase_frames: dict[str, pd.DataFrame]
) -> None:
    master, *followers = full_run.accounts
    balances = [f.start_balance for f in followers]
    assert balances == pytest.approx([1_000.0 * 0.4**i for i in range(1, 7)])
    assert len(followers[0].trades) == len(master.trades)
    assert [t.symbol for t in followers[0].trades] == [t.symbol for t in master.trades]
    # every follower exits with the master; the only coins left behind are those worth less than the
    # exchange minimum (unsellable on the real exchange too), and the report says so
    last_prices = {sym: float(frame["close"].iloc[-1]) for sym, frame in coinbase_frames.items()}
    for follower in followers[:4]:
        assert set(follower.books) <= set(master.books)
    for follower in followers:
        for symbol, book in follower.books.items():
            if symbol not in master.books:
                assert book.quantity * last_prices[symbol] < full_run.rules.min_notional
                assert follower.skipped["exit: order under the exchange minimum"] >= 1
    # the smallest follower (4.10 USD): 10 % MAX_USER_RISK is 0.41 USD, under Coinbase's 1 USD minimum
    smallest = followers[-1]
    assert smallest.trades == []
    report = account_report(smallest, len(full_run.timeline))
    assert report.skipped == {"entry: order under the exchange minimum": len(master.trades)}
    assert report.total_return == 0.0


def test_follower_entry_is_the_copy_sizing(full_run: BacktestResult) -> None:
    master, first, *_ = full_run.accounts
    # master risks 1 % to a <= 5 % stop: always the 10 % clamp; the follower's equity-ratio size is then
    # 10 % of its own equity, which is exactly its MAX_USER_RISK cap: same trades, proportional money.
    for m_trade, f_trade in zip(master.trades, first.trades, strict=True):
        assert f_trade.opened_at == m_trade.opened_at and f_trade.closed_at == m_trade.closed_at
        assert f_trade.cost / m_trade.cost == pytest.approx(0.4, rel=0.02)


def scripted(entry_frame: pd.DataFrame, future: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    """Real candles up to a known entry, then hand-written (open, high, low, close) candles."""
    last_time = int(entry_frame["time"].iloc[-1])
    rows = [
        {"time": last_time + HOUR * (i + 1), "open": o, "high": h, "low": lo, "close": c, "volume": 1e6}
        for i, (o, h, lo, c) in enumerate(future)
    ]
    return pd.concat([entry_frame, pd.DataFrame(rows)], ignore_index=True)


def test_fills_follow_the_live_exit_rules_exactly(data_dir: Path) -> None:
    settings = Settings()
    s = settings.strategy
    eth = read_candles(data_dir / "coinbase" / "ETH-USD_1h.csv.gz").iloc[1900:2169].reset_index(drop=True)
    signals = signal_frame(compute_indicators(eth, s), s)
    assert bool(signals["entry"].iloc[-1])  # the last real candle is an APEX entry
    close, raw_stop = float(eth["close"].iloc[-1]), float(signals["stop_price"].iloc[-1])
    rules = MarketRules("coinbase", fee_rate=0.006, min_notional=1.0, min_base_qty=0.0, base_decimals=8,
                        slippage=0.001)
    # the plan for Coinbase's fee: the stop floor clears the 1.21 % round trip + the margin
    planned = with_fees(EntrySignal("ETH-USD", 0.0, close, raw_stop, 0.0, 1.0, ()), 0.006, s)
    assert isinstance(planned, EntrySignal) and planned.stop_price < raw_stop
    stop = planned.stop_price
    fill = close * 1.001
    risk = fill - stop
    target = fill + risk
    breakeven = fill * 1.006 / 0.994  # where the stop moves after the first target: both fees paid
    frame = scripted(eth, [
        (close, target, close - 0.1 * risk, target - 0.1 * risk),  # touches +1R exactly: sell half there
        (target - 0.1 * risk, target, fill - 0.5 * risk, fill - 0.4 * risk),  # falls through break-even
    ])
    result = run_backtest({"ETH-USD": frame}, settings, rules, balance=1_000.0, followers=1, candle_seconds=HOUR)
    master, follower = result.accounts
    assert [t.exit_reason for t in master.trades] == ["breakeven_stop"]

    qty = floor8(100.0 / fill)  # 10 % of 1,000 USD (the clamp), floored to 8 decimals
    half = floor8(qty * 0.5)
    spent = qty * fill * 1.006
    got = half * target * 0.999 * 0.994 + (qty - half) * breakeven * 0.999 * 0.994
    assert master.cash == pytest.approx(1_000.0 - spent + got, rel=1e-12)
    assert master.trades[0].cost == pytest.approx(spent)

    f_qty = floor8(40.0 / fill)  # 100 x 400 / 1000 = 40 USD, also its 10 % MAX_USER_RISK cap
    f_half = f_qty * 0.5  # the same fraction of its own position the master sold
    f_got = floor8(f_half) * target * 0.999 * 0.994 + (f_qty - floor8(f_half)) * breakeven * 0.999 * 0.994
    assert follower.cash == pytest.approx(400.0 - f_qty * fill * 1.006 + f_got, rel=1e-9)
    assert follower.trades[0].exit_reason == "breakeven_stop"


def test_a_gap_through_the_stop_fills_at_the_open(data_dir: Path) -> None:
    settings = Settings()
    s = settings.strategy
    eth = read_candles(data_dir / "coinbase" / "ETH-USD_1h.csv.gz").iloc[1900:2169].reset_index(drop=True)
    stop = float(signal_frame(compute_indicators(eth, s), s)["stop_price"].iloc[-1])
    gap_open = stop * 0.97
    frame = scripted(eth, [(gap_open, gap_open * 1.001, gap_open * 0.99, gap_open)])
    rules = MarketRules("kraken", 0.0026, 0.5, 0.0, 8, 0.0)
    result = run_backtest({"ETH-USD": frame}, settings, rules, balance=1_000.0, candle_seconds=HOUR)
    trade = result.accounts[0].trades[0]
    assert trade.exit_reason == "stop"
    assert trade.proceeds / 0.9974 / (trade.cost / 1.0026) == pytest.approx(gap_open / float(eth["close"].iloc[-1]))


def test_equity_curve_marks_open_positions_to_market(data_dir: Path) -> None:
    settings = Settings()
    eth = read_candles(data_dir / "coinbase" / "ETH-USD_1h.csv.gz").iloc[1900:2169].reset_index(drop=True)
    close = float(eth["close"].iloc[-1])
    frame = scripted(eth, [(close, close * 1.001, close * 0.999, close * 1.0005)])
    rules = MarketRules("kraken", 0.0026, 0.5, 0.0, 8, 0.0)
    result = run_backtest({"ETH-USD": frame}, settings, rules, balance=1_000.0, candle_seconds=HOUR)
    master = result.accounts[0]
    qty = master.books["ETH-USD"].quantity
    assert master.equity_curve[-1] == pytest.approx(master.cash + qty * close * 1.0005)
    assert np.all(master.equity_curve[:-2] == 1_000.0)
    assert account_report(master, len(result.timeline)).open_positions == 1
