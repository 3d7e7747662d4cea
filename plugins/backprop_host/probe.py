"""The ``host`` probe: hostname, CPU count, 1-minute load average and RAM (total and available).

*Available* RAM (what can be given to a new process without swapping: the kernel's
``MemAvailable``, psutil's ``available``) is what admission compares against ``minFreeRamGB``,
never *free* RAM, which ignores the page cache the kernel gives back on demand.

On Linux the two numbers are read straight from ``/proc/meminfo`` (exactly what psutil reads),
which spares ``backprop status`` the import of psutil; elsewhere psutil reads them.
"""

from __future__ import annotations

import os

from backprop_core import HostInfo, HostProbe, ProbeError
from backprop_core.plugin_kit import hostname

MEMINFO = "/proc/meminfo"


class LocalHostProbe(HostProbe):
    """Reads the host through the kernel's own files where cheap, else psutil."""

    name = "host"

    def snapshot(self) -> HostInfo:
        total, available = _memory()
        return HostInfo(
            hostname=hostname(),
            cpu_count=os.cpu_count() or 1,
            load_1m=_load_1m(),
            ram_total_bytes=total,
            ram_available_bytes=available,
        )


def _memory() -> tuple[int, int]:
    """(total, available) RAM in bytes."""
    fast = _meminfo(MEMINFO)
    if fast is not None:
        return fast
    try:
        import psutil

        memory = psutil.virtual_memory()
    except (ImportError, OSError, RuntimeError) as exc:
        raise ProbeError(f"cannot read the host's memory: {exc}") from exc
    return int(memory.total), int(memory.available)


def _meminfo(path: str) -> tuple[int, int] | None:
    """``MemTotal`` and ``MemAvailable`` from a Linux meminfo file (kB units), or ``None``
    where the file or the field is missing (not Linux, or a kernel older than 3.14)."""
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read()
    except OSError:
        return None
    found: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("MemTotal", "MemAvailable"):
            parts = rest.split()
            if parts and parts[0].isdigit():
                found[key] = int(parts[0]) * 1024
    if len(found) != 2:
        return None
    return found["MemTotal"], found["MemAvailable"]


def _load_1m() -> float | None:
    """The 1-minute load average, or ``None`` where the platform has none."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        pass
    try:
        import psutil

        # psutil emulates it on Windows (0.0 for the first few seconds of the process).
        return float(psutil.getloadavg()[0])
    except (ImportError, AttributeError, OSError, RuntimeError):
        return None
