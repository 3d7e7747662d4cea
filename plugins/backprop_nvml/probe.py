"""The ``nvml`` GPU probe: NVML through nvidia-ml-py (``py3nvml`` only as a fallback).

NVML is initialised once per probe and shut down in ``close()``, so the in-run governor can poll
every few seconds without re-loading the driver library. The reading itself lives in
``backprop_nvml.reading``, imported on first use: listing the probes must stay cheap.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from backprop_core import Availability, GpuProbe, GpuReading, ProbeError

if TYPE_CHECKING:
    from backprop_nvml.reading import NvmlReader


def load_binding() -> ModuleType:
    """``pynvml`` (from nvidia-ml-py), else ``py3nvml.py3nvml``; ``ProbeError`` if neither."""
    try:
        import pynvml

        return pynvml
    except ImportError:
        pass
    try:
        from py3nvml import py3nvml

        return py3nvml
    except ImportError:
        raise ProbeError("the NVML binding nvidia-ml-py is not installed") from None


def _error_name(exc: BaseException) -> str:
    return type(exc).__name__.replace("NVMLError_", "") or "NVMLError"


class NvmlProbe(GpuProbe):
    """GPU probe that reads NVML directly (fast: no process per poll)."""

    name = "nvml"
    priority = 10

    def __init__(self) -> None:
        self._nvml: ModuleType | None = None
        self._reader: NvmlReader | None = None

    # life cycle ------------------------------------------------------------------------------
    def _init(self) -> ModuleType:
        if self._nvml is not None:
            return self._nvml
        nvml = load_binding()
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            raise ProbeError(_init_reason(nvml, exc)) from None
        except OSError as exc:  # some bindings let the loader's error through
            raise ProbeError(f"NVML library could not be loaded: {exc}") from None
        self._nvml = nvml
        return nvml

    def available(self) -> Availability:
        try:
            self._init()
        except ProbeError as exc:
            return Availability(False, exc.message)
        return Availability(True)

    def snapshot(self) -> GpuReading:
        nvml = self._init()
        if self._reader is None:
            from backprop_nvml.reading import NvmlReader

            self._reader = NvmlReader(nvml)
        return self._reader.read()

    def close(self) -> None:
        nvml, self._nvml = self._nvml, None
        self._reader = None
        if nvml is not None:
            try:
                nvml.nvmlShutdown()
            except nvml.NVMLError:
                pass


def _init_reason(nvml: ModuleType, exc: BaseException) -> str:
    if isinstance(exc, getattr(nvml, "NVMLError_LibraryNotFound", ())):
        return "NVML library not found (no NVIDIA driver installed?)"
    if isinstance(exc, getattr(nvml, "NVMLError_DriverNotLoaded", ())):
        return "NVIDIA driver not loaded"
    if isinstance(exc, getattr(nvml, "NVMLError_NoPermission", ())):
        return "no permission to use NVML"
    return f"NVML failed to start: {exc} ({_error_name(exc)})"
