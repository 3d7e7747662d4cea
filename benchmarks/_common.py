"""What the benchmark scripts share (they run as ``python benchmarks/bench_<area>.py``, so this
folder is on ``sys.path``)."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

REFERENCE_ITERATIONS = 1_000_000


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


def reference_loop(n: int = REFERENCE_ITERATIONS) -> int:
    """A fixed piece of pure-Python work (integer arithmetic in a loop, no allocation beyond
    small ints): how fast this machine runs interpreted code, which is what start-up costs
    and per-call overheads scale with."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def reference_ms(repeat: int = 5) -> float:
    """Milliseconds for ``reference_loop``, best of ``repeat`` (the least disturbed run)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        reference_loop()
        best = min(best, time.perf_counter() - start)
    return best * 1000


class SpeedReference:
    """The machine-speed line every benchmark prints: the reference loop timed before and
    after the measurements, so figures from different machines (or from one machine on a
    slow and a fast day) can be compared."""

    def __init__(self) -> None:
        self.before = reference_ms()

    def line(self) -> str:
        after = reference_ms()
        return (
            f"machine speed: reference loop {self.before:.0f} ms before, {after:.0f} ms after "
            f"({REFERENCE_ITERATIONS:,} iterations of pure Python, best of 5; lower is faster)"
        )
