"""The ``nvidia-smi`` GPU probe (priority 20: used by ``auto`` when NVML is unavailable).

Kept small on purpose: every installed probe class is imported whenever probes are listed, so
the work (subprocesses, parsing) lives in ``backprop_nvidia_smi.reading``, imported on use.
"""

from __future__ import annotations

import shutil

from backprop_core import Availability, GpuProbe, GpuReading, ProbeError


class NvidiaSmiProbe(GpuProbe):
    """GPU probe that runs the ``nvidia-smi`` command-line tool (at most 3 s per call)."""

    name = "nvidia-smi"
    priority = 20

    def __init__(self, binary: str | None = None) -> None:
        self._binary = binary

    def _find(self) -> str | None:
        if self._binary is None:
            self._binary = shutil.which("nvidia-smi")
        return self._binary

    def available(self) -> Availability:
        if self._find() is None:
            return Availability(False, "nvidia-smi not found on PATH")
        return Availability(True)

    def snapshot(self) -> GpuReading:
        binary = self._find()
        if binary is None:
            raise ProbeError("nvidia-smi not found on PATH")
        from backprop_nvidia_smi.reading import read_gpus

        return read_gpus(binary)
