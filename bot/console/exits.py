"""Entry points end with an exit code and at most one line, never a traceback, on a closed pipe or Ctrl-C.

`python bot.py status | head` closes our stdout early; Ctrl-C may come during imports, start-up or
output. Every entry point (bot.py, scripts/verify_*.py) runs through run_main, which imports its
target inside the guard so even an interrupt during the imports is handled.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence

EXIT_INTERRUPTED = 130  # the shell's code for a process ended by SIGINT
EXIT_BROKEN_PIPE = 1  # the reader went away before we finished (as Python's docs recommend)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _say(text: str) -> None:
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # stderr may be the closed pipe too


def run_main(target: str | Callable[[Sequence[str]], int], argv: Sequence[str] | None = None) -> int:
    """Run `target` ("module:function" or a callable taking argv) and return its exit code, guarded."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if isinstance(target, str):
            module, _, name = target.partition(":")
            target = getattr(importlib.import_module(module), name)
        code = int(target(args))  # type: ignore[operator]
        sys.stdout.flush()  # a closed pipe shows here, inside the guard, not at interpreter exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        _say("nija: interrupted")
        return EXIT_INTERRUPTED
