"""The ``host`` probe: hostname, CPU count, 1-minute load average and RAM (total and available).

*Available* RAM (what can be given to a new process without swapping, psutil's ``available``)
is what admission compares against ``minFreeRamGB``, never *free* RAM, which ignores the page
cache the kernel gives back on demand.
"""

from __future__ import annotations

import os
import socket

from backprop_core.errors import ProbeError
from backprop_core.resources import HostInfo, HostProbe


class PsutilHostProbe(HostProbe):
    """Reads the host through psutil."""

    name = "host"

    def snapshot(self) -> HostInfo:
        import psutil

        try:
            memory = psutil.virtual_memory()
        except (OSError, RuntimeError) as exc:
            raise ProbeError(f"cannot read the host's memory: {exc}") from exc
        return HostInfo(
            hostname=socket.gethostname(),
            cpu_count=psutil.cpu_count(logical=True) or os.cpu_count() or 1,
            load_1m=_load_1m(),
            ram_total_bytes=int(memory.total),
            ram_available_bytes=int(memory.available),
        )


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
    except (AttributeError, OSError, RuntimeError):
        return None
