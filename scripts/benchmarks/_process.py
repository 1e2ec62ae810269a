"""One whole child process measured as a user meets it: CPU (user + system), wall time, peak memory, its output.

The CPU figure comes from wait4 on the child, so it counts the process itself and every descendant it waited
for, and nothing else running on the machine; on a loaded machine the lowest CPU of a few runs is the figure
least disturbed by the others (their cache and scheduler noise only ever adds).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    cpu_seconds: float
    wall_seconds: float
    max_rss_mib: float
    returncode: int
    output: str  # stdout and stderr together


def run_measured(command: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None) -> Measured:
    """Run `command` to its end and measure it (the output goes to a file, never a pipe that could fill)."""
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(list(command), stdout=output, stderr=subprocess.STDOUT, cwd=cwd,
                                   env=dict(env) if env is not None else None)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode(errors="replace")
    return Measured(usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024.0, process.returncode, text)
