"""The ``nvml`` GPU probe: NVML through nvidia-ml-py (``py3nvml`` only as a fallback).

NVML is initialised once per probe and shut down in ``close()``, so the in-run governor can poll
every few seconds without re-loading the driver library. Every per-field query is guarded on
its own: ``NVMLError_NotSupported`` (and any other NVML error on one field) makes that value
unknown, never the whole GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from backprop_core.errors import ProbeError
from backprop_core.resources import (
    Availability,
    GpuInfo,
    GpuProbe,
    GpuProcess,
    GpuReading,
    MigDevice,
)

T = TypeVar("T")
_MIG_ENABLED = 1  # NVML_DEVICE_MIG_ENABLE


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


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _error_name(exc: BaseException) -> str:
    return type(exc).__name__.replace("NVMLError_", "") or "NVMLError"


class NvmlProbe(GpuProbe):
    """GPU probe that reads NVML directly (fast: no process per poll)."""

    name = "nvml"
    priority = 10

    def __init__(self) -> None:
        self._nvml: ModuleType | None = None
        self._memory_v2: bool | None = None  # learnt on the first GPU, then reused

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

    def close(self) -> None:
        nvml, self._nvml = self._nvml, None
        if nvml is not None:
            try:
                nvml.nvmlShutdown()
            except nvml.NVMLError:
                pass

    # reading ---------------------------------------------------------------------------------
    def snapshot(self) -> GpuReading:
        nvml = self._init()
        warnings: list[str] = []
        try:
            count = int(nvml.nvmlDeviceGetCount())
        except nvml.NVMLError as exc:
            raise ProbeError(f"NVML could not count the GPUs: {exc}") from None
        driver = self._field(nvml, "driver version", warnings, nvml.nvmlSystemGetDriverVersion)
        gpus = [self._gpu(nvml, index, warnings) for index in range(count)]
        return GpuReading(gpus=tuple(gpus), driver_version=_text(driver), warnings=tuple(warnings))

    def _field(
        self,
        nvml: ModuleType,
        what: str,
        warnings: list[str],
        call: Callable[..., T],
        *args: Any,
    ) -> T | None:
        """One NVML query ``call(*args)``; its error makes this one value unknown."""
        try:
            return call(*args)
        except nvml.NVMLError as exc:
            if not isinstance(exc, nvml.NVMLError_NotSupported):
                warnings.append(f"NVML: {what}: {exc}")
            return None

    def _gpu(self, nvml: ModuleType, index: int, warnings: list[str]) -> GpuInfo:
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
        except nvml.NVMLError as exc:
            warnings.append(f"NVML: GPU {index} cannot be read: {exc}")
            return GpuInfo(index=index)

        def field(what: str, call: Callable[..., T], *args: Any) -> T | None:
            return self._field(nvml, f"GPU {index} {what}", warnings, call, *args)

        memory = self._memory(nvml, handle, index, warnings)
        pci = field("PCI info", nvml.nvmlDeviceGetPciInfo, handle)
        temp = field(
            "temperature", nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU
        )
        util = field("utilization", nvml.nvmlDeviceGetUtilizationRates, handle)
        uuid = _text(field("UUID", nvml.nvmlDeviceGetUUID, handle))
        mig_mode = field("MIG mode", nvml.nvmlDeviceGetMigMode, handle)
        mig_enabled = None if mig_mode is None else mig_mode[0] == _MIG_ENABLED
        return GpuInfo(
            index=index,
            uuid=uuid,
            name=_text(field("name", nvml.nvmlDeviceGetName, handle)),
            pci_bus_id=_text(getattr(pci, "busId", None)),
            memory_total_bytes=_int(getattr(memory, "total", None)),
            memory_used_bytes=_int(getattr(memory, "used", None)),
            memory_free_bytes=_int(getattr(memory, "free", None)),
            temperature_c=None if temp is None else float(temp),
            utilization_pct=None if util is None else float(util.gpu),
            processes=tuple(self._processes(nvml, handle, uuid, index, warnings)),
            mig_enabled=mig_enabled,
            mig_devices=tuple(self._mig_devices(nvml, handle, index, warnings))
            if mig_enabled
            else (),
        )

    def _memory(self, nvml: ModuleType, handle: Any, index: int, warnings: list[str]) -> Any:
        """v2 memory info (``used`` without the driver's reserved memory) where the driver has
        it, else v1. Which one works is learnt once and kept."""
        v2 = getattr(nvml, "nvmlMemory_v2", None)
        if v2 is not None and self._memory_v2 is not False:
            try:
                info = nvml.nvmlDeviceGetMemoryInfo(handle, version=v2)
                self._memory_v2 = True
                return info
            except TypeError:  # a binding without the ``version`` argument
                self._memory_v2 = False
            except nvml.NVMLError as exc:
                if _is_missing_function(nvml, exc):  # a driver older than v2 memory info
                    self._memory_v2 = False
        return self._field(
            nvml, f"GPU {index} memory", warnings, nvml.nvmlDeviceGetMemoryInfo, handle
        )

    def _processes(
        self, nvml: ModuleType, handle: Any, uuid: str | None, index: int, warnings: list[str]
    ) -> list[GpuProcess]:
        procs = self._field(
            nvml,
            f"GPU {index} processes",
            warnings,
            nvml.nvmlDeviceGetComputeRunningProcesses,
            handle,
        )
        found = []
        for p in procs or []:
            pid = int(p.pid)
            name = self._field(nvml, "process name", [], nvml.nvmlSystemGetProcessName, pid)
            found.append(
                GpuProcess(
                    pid=pid,
                    name=_text(name),
                    used_memory_bytes=_int(getattr(p, "usedGpuMemory", None)),
                    gpu_uuid=uuid,
                )
            )
        return found

    def _mig_devices(
        self, nvml: ModuleType, handle: Any, index: int, warnings: list[str]
    ) -> list[MigDevice]:
        slots = self._field(
            nvml, f"GPU {index} MIG devices", warnings, nvml.nvmlDeviceGetMaxMigDeviceCount, handle
        )
        devices = []
        for slot in range(int(slots or 0)):
            try:
                mig = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
            except nvml.NVMLError:
                continue  # an empty slot answers NotFound
            quiet: list[str] = []
            memory = self._field(nvml, "", quiet, nvml.nvmlDeviceGetMemoryInfo, mig)
            name = _text(self._field(nvml, "", quiet, nvml.nvmlDeviceGetName, mig))
            uuid = _text(self._field(nvml, "", quiet, nvml.nvmlDeviceGetUUID, mig))
            if uuid is None:
                warnings.append(f"NVML: GPU {index} MIG device {slot} has no readable UUID")
                continue
            devices.append(
                MigDevice(
                    uuid=uuid,
                    profile=_mig_profile(name),
                    gpu_instance_id=self._field(
                        nvml, "", quiet, nvml.nvmlDeviceGetGpuInstanceId, mig
                    ),
                    compute_instance_id=self._field(
                        nvml, "", quiet, nvml.nvmlDeviceGetComputeInstanceId, mig
                    ),
                    memory_total_bytes=_int(getattr(memory, "total", None)),
                    memory_used_bytes=_int(getattr(memory, "used", None)),
                    memory_free_bytes=_int(getattr(memory, "free", None)),
                )
            )
        return devices


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _mig_profile(name: str | None) -> str | None:
    """``"NVIDIA H100 80GB HBM3 MIG 3g.40gb"`` → ``"3g.40gb"``."""
    if not name or " MIG " not in f" {name} ":
        return None
    return name.rsplit("MIG", 1)[1].strip() or None


def _is_missing_function(nvml: ModuleType, exc: BaseException) -> bool:
    kinds = tuple(
        getattr(nvml, name)
        for name in (
            "NVMLError_FunctionNotFound",
            "NVMLError_ArgumentVersionMismatch",
            "NVMLError_NotSupported",
        )
        if hasattr(nvml, name)
    )
    return isinstance(exc, kinds)


def _init_reason(nvml: ModuleType, exc: BaseException) -> str:
    if isinstance(exc, getattr(nvml, "NVMLError_LibraryNotFound", ())):
        return "NVML library not found (no NVIDIA driver installed?)"
    if isinstance(exc, getattr(nvml, "NVMLError_DriverNotLoaded", ())):
        return "NVIDIA driver not loaded"
    if isinstance(exc, getattr(nvml, "NVMLError_NoPermission", ())):
        return "no permission to use NVML"
    return f"NVML failed to start: {exc} ({_error_name(exc)})"
