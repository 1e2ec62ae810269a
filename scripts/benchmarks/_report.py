"""How every benchmark prints its figures: one JSON object with --json (for scripts and CI), else a line each."""

from __future__ import annotations

import json
from collections.abc import Mapping


def print_figures(figures: Mapping[str, object], as_json: bool, *, name_width: int = 0) -> None:
    if as_json:
        print(json.dumps(figures))
        return
    for name, value in figures.items():
        print(f"{name:>{name_width}}: {value}")
