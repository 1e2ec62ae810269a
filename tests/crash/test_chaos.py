"""The chaos benchmark's short version: 5 random kill -9 + restart cycles with faults on, then the audit."""

from __future__ import annotations

from pathlib import Path

from scripts.benchmarks import chaos


def test_five_random_kills_with_lost_answers_and_5xx_lose_and_double_nothing(tmp_path: Path) -> None:
    figures = chaos.run(kills=5, seed=11, root=tmp_path, followers={"alice": 2_500.0, "bob": 400.0})
    problems = figures.pop("problems")
    assert figures["master_fills"] > 0 and figures["copies_done"] > 0, figures  # the bot did trade
    assert not chaos.failed(figures), f"{figures}\n" + "\n".join(problems[:25])
