"""Each APEX entry rule, on hand-made rows: a passing candle, then one rule broken at a time."""

from __future__ import annotations

import numpy as np
import pytest

from bot.config.sections.strategy import StrategySettings
from bot.strategy.apex import entry_block
from bot.strategy.sizing import size_entry

S = StrategySettings()


def passing() -> dict[str, np.ndarray]:
    """Four candles; the last one meets every rule and all four confirmations."""
    rows = {
        "open": [100.0, 99.0, 99.5, 100.0],
        "high": [100.0, 99.5, 100.0, 101.0],  # the last candle closes on its high: a full bullish body
        "low": [99.0, 99.0, 99.5, 100.0],
        "close": [99.0, 99.5, 100.0, 101.0],
        "volume": [100.0, 100.0, 100.0, 100.0],
        "volume_avg": [100.0, 100.0, 100.0, 100.0],
        "rsi_fast": [40.0, 28.0, 29.0, 35.0],
        "rsi_slow": [45.0, 44.0, 44.0, 45.0],
        "ema_fast": [100.5, 100.5, 100.5, 100.5],
        "ema_mid": [101.0, 101.0, 101.0, 101.0],
        "ema_slow": [99.0, 99.0, 99.0, 99.0],
        "macd_hist": [-0.5, -0.4, -0.2, 0.1],
        "atr": [1.0, 1.0, 1.0, 1.0],
        "adx": [26.0, 26.0, 26.0, 26.0],
    }
    return {name: np.array(values) for name, values in rows.items()}


def last(rows: dict[str, np.ndarray], s: StrategySettings = S) -> dict[str, float]:
    return {name: values[-1] for name, values in entry_block(rows, s).items()}


def with_last(rows: dict[str, np.ndarray], **changes: float) -> dict[str, np.ndarray]:
    for name, value in changes.items():
        rows[name] = rows[name].copy()
        rows[name][-1] = value
    return rows


def test_the_passing_candle_enters_with_full_confidence_and_an_atr_stop() -> None:
    result = last(passing())
    assert result["entry"]
    assert result["confidence"] == 1.0
    assert result["stop_price"] == pytest.approx(101.0 - 1.5 * 1.0)


@pytest.mark.parametrize(
    ("broken", "changes"),
    [
        ("close under EMA slow", {"close": 98.9, "open": 98.0, "high": 98.9, "ema_fast": 98.5, "ema_mid": 99.1}),
        ("EMA mid under EMA slow", {"ema_mid": 98.9}),
        ("ADX under adx_min", {"adx": 17.99}),
        ("RSI fast not rising", {"rsi_fast": 28.5}),
        ("RSI slow at its maximum", {"rsi_slow": 50.0}),
        ("close not above EMA fast", {"ema_fast": 101.0}),
        ("volume under half its average", {"volume": 49.9}),
    ],
)
def test_each_required_rule_blocks_the_entry(broken: str, changes: dict[str, float]) -> None:
    assert not last(with_last(passing(), **changes))["entry"], broken


def test_oversold_must_be_within_the_lookback() -> None:
    rows = passing()
    rows["rsi_fast"] = np.array([25.0, 31.0, 32.0, 35.0])  # oversold 3 candles before, outside the window of 3
    assert not last(rows)["entry"]
    rows["rsi_fast"] = np.array([31.0, 29.9, 32.0, 35.0])  # oversold 2 candles before: inside
    assert last(rows)["entry"]
    assert last(rows, StrategySettings(rsi_oversold_lookback=2))["entry"] is np.False_


def test_the_oversold_window_reading_is_a_setting() -> None:
    """Issue 14: "RSI below 30 within the last 3 candles" has two readings; the setting says which."""
    three_back = passing()
    three_back["rsi_fast"] = np.array([29.0, 31.0, 32.0, 35.0])  # oversold at t-3 only
    before = StrategySettings(rsi_oversold_window="before_signal")
    assert not last(three_back)["entry"]  # through_signal reads t-2..t
    assert last(three_back, before)["entry"]  # before_signal reads t-3..t-1
    rows = passing()
    rows["rsi_fast"] = np.array([40.0, 31.0, 25.0, 29.0])  # oversold at t-1 and still under 30 (rising) at t
    assert last(rows)["entry"] and last(rows, before)["entry"]
    # (RSI cannot be oversold at t alone while rising: the two readings differ only on t-3 versus t.)


def test_confidence_grades_the_optional_confirmations() -> None:
    assert last(passing())["confidence"] == 1.0
    half_adx = with_last(passing(), adx=21.5)  # halfway from adx_min 18 to adx_strong 25
    assert last(half_adx)["strong_adx"] == pytest.approx(0.5)
    assert last(half_adx)["confidence"] == pytest.approx(0.875)
    small_body = with_last(passing(), high=102.0)  # body 1 of a range of 2: half a bullish candle
    assert last(small_body)["bullish_candle"] == pytest.approx(0.5)
    off_mid = with_last(passing(), ema_mid=100.0)  # 1 % from EMA mid: at the proximity edge, no credit
    assert last(off_mid)["near_ema_mid"] == pytest.approx(0.0, abs=0.02)
    bearish = with_last(passing(), open=101.5)  # closes under its open: no bullish credit at all
    assert last(bearish)["bullish_candle"] == 0.0


def test_the_confidence_threshold_filters_and_moves_with_its_setting() -> None:
    weak = with_last(passing(), adx=21.5, high=102.0)  # (1 + 0.5 + 1 + 0.5) / 4 = 0.75: exactly the default
    assert last(weak)["confidence"] == pytest.approx(0.75)
    assert last(weak)["entry"]
    weaker = with_last(passing(), adx=20.0, high=102.0)  # ADX strength 2/7: under 0.75
    assert last(weaker)["confidence"] < 0.75
    assert not last(weaker)["entry"]
    assert last(weaker, StrategySettings(min_confidence=0.6))["entry"]


def test_stop_distance_is_clamped_between_the_fractions() -> None:
    tiny = last(with_last(passing(), atr=0.01))
    assert tiny["stop_price"] == pytest.approx(101.0 * (1 - 0.008))  # the plain floor; fees raise it per account
    huge = last(with_last(passing(), atr=10.0))
    assert huge["stop_price"] == pytest.approx(101.0 * (1 - 0.05))


def test_one_adx_threshold_from_settings_and_sizing_ignores_adx() -> None:
    """Old bug: an ADX gate of 10 in one place and a sizer returning zero under ADX 20 in another."""
    lenient = StrategySettings(min_confidence=0.5)  # ADX strength 0 at the gate: let confidence not decide here
    at_gate = last(with_last(passing(), adx=S.adx_min), lenient)
    assert at_gate["entry"]  # the gate is >= adx_min, exactly
    assert not last(with_last(passing(), adx=10.0), lenient)["entry"]  # 10 is not a second, looser gate
    assert last(with_last(passing(), adx=10.0), StrategySettings(adx_min=10.0, min_confidence=0.5))["entry"]
    # An entry at ADX 19 (between 18 and 20) gets a real size: sizing takes no ADX at all.
    size = size_entry(1_000.0, 1_000.0, 101.0, at_gate["stop_price"], S)
    assert not size.skipped and size.notional > 0


def test_scan_says_which_rules_block_a_market(eth_1h) -> None:
    from bot.strategy.apex import scan_frames

    frames = {
        "ENTRY-USD": eth_1h.iloc[2169 - 120 : 2169].reset_index(drop=True),  # its last candle is an entry
        "WAIT-USD": eth_1h.iloc[2169 - 121 : 2168].reset_index(drop=True),  # the candle before it
        "NEW-USD": eth_1h.iloc[:30].reset_index(drop=True),  # too young for EMA 50
    }
    results = scan_frames(frames, S)
    assert results["ENTRY-USD"].signal is not None and results["ENTRY-USD"].blocked_by == ()
    assert results["WAIT-USD"].signal is None and results["WAIT-USD"].blocked_by
    assert set(results["WAIT-USD"].blocked_by) <= {"trend", "trigger", "liquidity", "confidence"}
    assert results["NEW-USD"].blocked_by == ("warm-up",)
