"""Which process on which machine: a pid with its start time (pids are reused), and the host.

Kept free of heavy imports because the SDK needs it in ``init``.
"""

from __future__ import annotations

import os
import sys

TOLERANCE_S = 1.0


def process_alive(pid: int | None, started: float | None) -> bool:
    """Whether the process ``pid`` that started at ``started`` (unix seconds) still runs."""
    if pid is None or started is None:
        return False
    import psutil  # only needed when some run is active; keeps `backprop list` start-up lean

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return abs(proc.create_time() - started) <= TOLERANCE_S
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def _linux_start_time(pid: int) -> float | None:
    """psutil's ``create_time`` computed the way it does on Linux (boot time plus the process's
    start in clock ticks), without importing psutil: the SDK calls this in ``init`` and
    ``import psutil`` alone costs ~12 ms there."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
        with open("/proc/stat", "rb") as fh:
            btime = next(line for line in fh if line.startswith(b"btime "))
        # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        ticks = int(stat[stat.rindex(b")") + 2 :].split()[19])
        return float(btime.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def process_start_time(pid: int) -> float:
    """The OS's start time of ``pid`` (what sessions store as ``supervisor_started``)."""
    if sys.platform.startswith("linux"):
        started = _linux_start_time(pid)
        if started is not None:
            return started
    import psutil

    return float(psutil.Process(pid).create_time())


def hostname() -> str:
    """This machine's name, as ``socket.gethostname()`` gives it; sessions record it next to
    the supervisor's pid. ``os.uname`` avoids importing ``socket`` on the SDK's start-up path."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket  # pragma: no cover - Windows

    return socket.gethostname()  # pragma: no cover
