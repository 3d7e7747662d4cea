"""The in-run governor: when to pause a running session and when to let it go on.

A GPU handed to the run at or above ``gpu.maxTempC`` pauses it, and it resumes once every such
GPU is at least ``governor.resumeHysteresisC`` under the limit. Available RAM under
``governor.pauseBelowFreeRamGB`` pauses it until RAM is back at that level. An unknown reading
never pauses a run.
"""

from __future__ import annotations

from typing import Any

from backprop_core.admission.resources import Snapshot
from backprop_core.settings.model import Settings
from backprop_core.units import GIB


class PauseGovernor:
    def __init__(self, settings: Settings, gpus: tuple[int, ...]) -> None:
        self.max_temp = settings.gpu.max_temp_c
        self.hysteresis = settings.governor.resume_hysteresis_c
        self.min_ram = settings.governor.pause_below_free_ram_gb * GIB
        self.gpus = gpus

    def reason(self, snapshot: Snapshot, paused: bool) -> str | None:
        """Why the run must be (or stay) paused now, or ``None`` to run."""
        for index in self.gpus:
            gpu = snapshot.gpu(index)
            temp = gpu.temperature_c if gpu is not None else None
            if temp is None:
                continue
            hot = temp > self.max_temp - self.hysteresis if paused else temp >= self.max_temp
            if hot:
                return f"GPU {index} at {temp:.0f}°C (limit {self.max_temp:.0f}°C)"
        host = snapshot.host
        if host is not None and self.min_ram > 0 and host.ram_available_bytes < self.min_ram:
            return (
                f"available RAM {host.ram_available_bytes / GIB:.2f} GB under "
                f"{self.min_ram / GIB:g} GB"
            )
        return None


class SnapshotSource:
    """Takes snapshots for the in-run governor with probes opened once per session."""

    def __init__(self, settings: Settings) -> None:
        self._prober: Any = None
        try:
            from backprop_core.admission.probing import Prober

            self._prober = Prober(settings)
        except Exception as exc:
            print(f"backprop: warning: in-run governor has no probes: {exc}")

    def take(self) -> Snapshot | None:
        if self._prober is None:
            return None
        try:
            snapshot: Snapshot = self._prober.snapshot()
            return snapshot
        except Exception:
            return None

    def close(self) -> None:
        if self._prober is not None:
            try:
                self._prober.close()
            except Exception:
                pass
