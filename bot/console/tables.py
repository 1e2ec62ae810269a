"""Tables for people: boxed and coloured on a terminal, plain aligned text in a pipe, a file or a log.

One function renders every console table (the start-up accounts, the final summary), so both look alike and
a redirected run never writes escape codes into a file. rich is imported only when a table is drawn.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

PLAIN_WIDTH = 250  # a pipe or a file has no width: wide enough that a row stays on one line


@dataclass(frozen=True)
class Column:
    header: str
    align: str = "left"  # left | right
    style: str = ""  # rich style on a terminal, e.g. "bold"
    wraps: bool = False  # long text (reasons) wraps in a narrow terminal; labels and numbers never do


def state_style(state: str) -> str:
    """Green for trading, yellow for waiting on something, red for what needs a person."""
    if state in ("TRADING", "FOLLOWING"):
        return "green"
    if state in ("UNFUNDED", "BELOW_MINIMUM", "ENTRY_BLOCKED", "STANDING_DOWN", "DISABLED", "MASTER_OFFLINE"):
        return "yellow"
    return "red"


def render_table(
    title: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    terminal: bool,
    row_styles: Sequence[str] | None = None,
    width: int | None = None,
) -> str:
    """The table as text: rich's rounded box with colours on a terminal, ASCII without colour otherwise."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, box=box.ROUNDED if terminal else box.ASCII, title_justify="left",
                  show_lines=False, header_style="bold" if terminal else "")
    for column in columns:
        table.add_column(column.header, justify=column.align, style=column.style if terminal else "",  # type: ignore[arg-type]
                         no_wrap=not column.wraps, overflow="fold" if column.wraps else "ellipsis")
    for index, row in enumerate(rows):
        style = row_styles[index] if terminal and row_styles else None
        table.add_row(*row, style=style or None)
    if width is None:
        width = max(shutil.get_terminal_size().columns, _needed_width(columns, rows)) if terminal else PLAIN_WIDTH
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminal, no_color=not terminal, highlight=False, width=width)
    console.print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").splitlines())


def _needed_width(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> int:
    """Room for every label and number in full, and at least 30 characters for each column of long text: a
    terminal narrower than that wraps the lines rather than the table hiding a figure."""
    total = 1
    for index, column in enumerate(columns):
        widest = max([len(column.header), *(len(line) for row in rows for line in row[index].splitlines())])
        total += (min(widest, 30) if column.wraps else widest) + 3
    return total


def is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False
