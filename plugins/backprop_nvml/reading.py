"""Reading the GPUs through NVML, one guarded query per field.

``NVMLError_NotSupported`` (and any other NVML error on one field) makes that value unknown,
never the whole GPU: only a failure to count the GPUs fails the reading.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from backprop_core import GpuInfo, GpuProcess, GpuReading, MigDevice, ProbeError

T = TypeVar("T")
_MIG_ENABLED = 1  # NVML_DEVICE_MIG_ENABLE


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


class NvmlReader:
    """Reads every GPU through an initialised NVML binding; keeps what it learnt (which memory
    call the driver has) for the next poll."""

    def __init__(self, nvml: ModuleType) -> None:
        self._nvml = nvml
        self._memory_v2: bool | None = None

    def read(self) -> GpuReading:
        nvml = self._nvml
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
