"""What the benchmark scripts share (they run as ``python benchmarks/bench_<area>.py``, so this
folder is on ``sys.path``)."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name, for the machine line every table starts with."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def backprop(*args: str) -> list[str]:
    """The command line of ``backprop ARGS`` with this interpreter."""
    return [sys.executable, "-m", "backprop_core.cli", *args]


def reference_ms() -> float:
    """A fixed pure-Python loop: the machine-speed reference line of a table."""
    started = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i & 7
    return (time.perf_counter() - started) * 1000
