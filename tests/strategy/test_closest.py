"""The console's "closest candidate and what it lacks": a pure function of a scan's results (bot.strategy.closest)."""

from __future__ import annotations

from dataclasses import replace

from bot.config.sections.strategy import StrategySettings
from bot.strategy.apex import ScanResult
from bot.strategy.closest import closest_candidate
from bot.strategy.indicators import LastCandle

S = StrategySettings()
BASE = LastCandle(symbol="X", time=0.0, open=100.0, high=101.0, low=99.0, close=100.5, volume=10.0, rsi_fast=45.0,
                  rsi_slow=55.0, ema_fast=100.0, ema_mid=99.0, ema_slow=98.0, macd_hist=0.1, atr=0.8, adx=30.0,
                  volume_avg=10.0)


def result(symbol: str, blocked: tuple[str, ...], **values: float) -> ScanResult:
    return ScanResult(symbol, replace(BASE, symbol=symbol, **values), None, blocked)


def test_fewest_unmet_rules_wins_and_the_words_name_the_numbers() -> None:
    results = {
        "AAA-USD": result("AAA-USD", ("trend", "trigger"), close=97.0, rsi_slow=60.0),
        "BBB-USD": result("BBB-USD", ("trigger",), rsi_fast=42.0, rsi_slow=53.1),
        "CCC-USD": result("CCC-USD", ("warm-up",)),
    }
    candidate = closest_candidate(results, S)
    assert candidate is not None and candidate.symbol == "BBB-USD"
    assert candidate.lacks == ("trigger: RSI9 42.0, needs a dip under 30 then a rise, RSI14 53.1, needs under 50",)


def test_among_equals_the_smaller_shortfall_wins() -> None:
    results = {
        "FAR-USD": result("FAR-USD", ("trigger",), rsi_fast=70.0, rsi_slow=65.0),
        "NEAR-USD": result("NEAR-USD", ("trigger",), rsi_fast=33.0, rsi_slow=51.0),
    }
    assert closest_candidate(results, S).symbol == "NEAR-USD"  # type: ignore[union-attr]


def test_trend_liquidity_and_confidence_are_described() -> None:
    trend = closest_candidate({"T": result("T", ("trend",), close=97.0, ema_mid=97.5, adx=12.0)}, S)
    assert trend is not None and trend.lacks == ("trend: close under EMA50, EMA21 under EMA50, ADX 12.0, needs 18",)
    thin = closest_candidate({"L": result("L", ("liquidity",), volume=2.0)}, S)
    assert thin is not None and thin.lacks == ("liquidity: volume 0.20x its average, needs 0.5x",)
    weak = closest_candidate({"C": result("C", ("confidence",))}, S)
    assert weak is not None and weak.lacks == (f"confidence: the confirmations score under {S.min_confidence:g}",)


def test_a_signal_lacks_nothing_and_an_empty_scan_has_no_candidate() -> None:
    assert closest_candidate({}, S) is None
    signalled = ScanResult("SIG-USD", BASE, object(), ())  # type: ignore[arg-type]
    found = closest_candidate({"SIG-USD": signalled, "B": result("B", ("trend",))}, S)
    assert found is not None and found.symbol == "SIG-USD" and found.lacks == ()
