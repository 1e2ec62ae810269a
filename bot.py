"""NIJA entry point: `python bot.py --help`."""

from bot.console.exits import run_main

if __name__ == "__main__":
    raise SystemExit(run_main("bot.cli:main"))
