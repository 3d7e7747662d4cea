"""Which process on which machine: a pid with its start time (pids are reused), and where that
pid means something: the host, its boot, and the PID namespace.

Kept free of heavy imports because the SDK needs it in ``init``.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass

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


def boot_id() -> str | None:
    """This boot of the kernel (Linux: a random id drawn at boot); ``None`` where unknown."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def pid_namespace() -> int | None:
    """The id (inode) of this process's PID namespace; ``None`` where there is none to read.
    A container, or ``unshare --pid``, has its own: the same pid names another process there."""
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None


@dataclass(frozen=True)
class PidScope:
    """Where a pid names one process: a host, one boot of it, one PID namespace. Sessions
    record the supervisor's; a reader whose scope is the same can check that pid itself."""

    host: str | None
    boot_id: str | None
    pid_namespace: int | None

    def same_as(self, other: PidScope) -> bool:
        """Known on both sides and equal in every part."""
        return (
            None not in (self.host, self.boot_id, self.pid_namespace)
            and self.host == other.host
            and self.boot_id == other.boot_id
            and self.pid_namespace == other.pid_namespace
        )


@functools.lru_cache(maxsize=1)
def here() -> PidScope:
    """This process's scope (constant for its lifetime)."""
    return PidScope(hostname(), boot_id(), pid_namespace())
