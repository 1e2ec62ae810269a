"""The local JSON webhook (scripts/benchmarks/_webhook.py, shared with `bench.py notify`) as a fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts.benchmarks._webhook import Receiver

__all__ = ["Receiver", "receiver"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()
