"""A progress bar for start-up steps that can take seconds (loading candle files, connecting many accounts).

Drawn with rich on stderr, and only on a terminal: in a pipe, a file or a test it draws nothing, so no escape
codes reach a log. It disappears when done (transient), leaving the lines the step printed itself.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from bot.console.tables import is_terminal


class ProgressBar:
    """advance(label) once per item; close() when done (also safe when nothing was drawn)."""

    def __init__(self, description: str, total: int, stream: TextIO | None = None) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self._progress: Any = None
        self._task: Any = None
        stream = stream or sys.stderr
        if total > 0 and is_terminal(stream):
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                TextColumn("{task.fields[item]}"), console=Console(file=stream), transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(description, total=total, item="")

    @property
    def drawn(self) -> bool:
        return self._progress is not None

    def advance(self, item: str = "") -> None:
        self.done += 1
        if self._progress is not None:
            self._progress.update(self._task, advance=1, item=item)
            if self.done >= self.total:
                self.close()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


@contextmanager
def progress_bar(description: str, total: int, stream: TextIO | None = None) -> Iterator[ProgressBar]:
    bar = ProgressBar(description, total, stream)
    try:
        yield bar
    finally:
        bar.close()
