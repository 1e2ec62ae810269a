"""Strategy functions are pure: no shared mutable state between threads or brokerages.

Old bug: one strategy object shared and mutated by every thread, so an order could land on the
wrong brokerage. Here there is no object to share: module globals are immutable, inputs are not
modified, and many threads scanning different markets at once get exactly the serial answers.
"""

from __future__ import annotations
import __future__

import importlib
import pkgutil
import threading
import types
import typing

import pandas as pd
import pytest

import bot.strategy
from bot.config.sections.strategy import StrategySettings
from bot.strategy.apex import scan_frames

IMMUTABLE = (int, float, str, bytes, bool, tuple, frozenset, type(None), types.ModuleType, types.FunctionType, type,
             __future__._Feature, typing.TypeVar)  # a TypeVar is a type declaration, not state


def test_no_module_level_mutable_state() -> None:
    modules = [importlib.import_module(f"bot.strategy.{m.name}") for m in pkgutil.iter_modules(bot.strategy.__path__)]
    assert len(modules) >= 5
    for module in modules:
        for name, value in vars(module).items():
            if name.startswith("__") or callable(value):
                continue
            assert isinstance(value, IMMUTABLE), f"{module.__name__}.{name} is a mutable {type(value).__name__}"


def test_settings_cannot_be_changed_under_a_running_thread() -> None:
    s = StrategySettings()
    with pytest.raises(ValueError):
        s.adx_min = 10.0  # type: ignore[misc]


def test_threads_scanning_different_brokerages_get_their_own_answers(
    eth_1h: pd.DataFrame, sol_1h: pd.DataFrame
) -> None:
    s = StrategySettings()
    # Eight "brokerages", each a different set of market windows (some contain real entries).
    books = {
        f"broker{b}": {
            f"M{m}-USD": (eth_1h if (b + m) % 2 else sol_1h).iloc[start : start + 120].reset_index(drop=True)
            for m, start in enumerate(range(b * 40 + 700, b * 40 + 700 + 8 * 180, 180))
        }
        for b in range(8)
    }
    books["broker0"]["ENTRY-USD"] = eth_1h.iloc[2169 - 120 : 2169].reset_index(drop=True)  # last candle = entry
    copies = {name: {sym: f.copy() for sym, f in frames.items()} for name, frames in books.items()}
    serial = {name: scan_frames(frames, s) for name, frames in books.items()}
    assert serial["broker0"]["ENTRY-USD"].signal is not None

    barrier = threading.Barrier(len(books))
    answers: dict[str, list[dict]] = {name: [] for name in books}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            barrier.wait()
            for _ in range(5):
                answers[name].append(scan_frames(books[name], s))
        except BaseException as error:  # reported below, with the thread's name
            errors.append(error)

    threads = [threading.Thread(target=work, args=(name,), name=name) for name in books]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for name, runs in answers.items():
        for result in runs:
            assert result == serial[name], name
            assert all(r.symbol in books[name] for r in result.values())
        for sym, frame in books[name].items():
            pd.testing.assert_frame_equal(frame, copies[name][sym])  # inputs untouched
