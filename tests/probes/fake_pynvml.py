"""A stand-in for the ``pynvml`` module of nvidia-ml-py, for machines without an NVIDIA GPU.

It keeps the real binding's surface and manners: the same function and constant names,
``NVMLError`` whose constructor maps an error code to its subclass (``NVMLError_NotSupported``,
``NVMLError_Uninitialized``...) with the code in ``.value``, structures with ``.total/.free/.used``
(and ``.reserved``/``.version`` for ``nvmlMemory_v2``), process objects with ``.pid`` and
``.usedGpuMemory``, and every device call failing with ``NVMLError_Uninitialized`` unless
``nvmlInit`` was called (and not yet matched by ``nvmlShutdown``).

Tests call ``configure(...)`` to choose the GPUs and the failures; ``h100_load()`` and
``h100_mig_load()`` give devices with the values of the real H100 captures under load.
"""

from __future__ import annotations

import string
import sys
from dataclasses import dataclass, field
from typing import Any

MIB = 1024 * 1024

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_ALREADY_INITIALIZED = 5
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25
NVML_ERROR_UNKNOWN = 999

NVML_TEMPERATURE_GPU = 0
NVML_DEVICE_MIG_DISABLE = 0
NVML_DEVICE_MIG_ENABLE = 1
nvmlMemory_v2 = 0x02000028


class NVMLError(Exception):
    _valClassMapping: dict[int, type[NVMLError]] = {}
    _errcode_to_string = {
        NVML_ERROR_UNINITIALIZED: "Uninitialized",
        NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
        NVML_ERROR_NOT_SUPPORTED: "Not Supported",
        NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
        NVML_ERROR_ALREADY_INITIALIZED: "Already Initialized",
        NVML_ERROR_NOT_FOUND: "Not Found",
        NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
        NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
        NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
        NVML_ERROR_GPU_IS_LOST: "GPU is lost",
        NVML_ERROR_ARGUMENT_VERSION_MISMATCH: "Argument version mismatch",
        NVML_ERROR_UNKNOWN: "Unknown Error",
    }
    value: int

    def __new__(cls, value: int) -> NVMLError:
        # Like the real binding: NVMLError(code) builds the subclass for that code.
        if cls is NVMLError:
            cls = NVMLError._valClassMapping.get(value, cls)
        obj = Exception.__new__(cls)
        obj.value = value
        return obj

    def __init__(self, value: int) -> None:
        super().__init__(value)

    def __str__(self) -> str:
        return self._errcode_to_string.get(self.value, f"NVML Error with code {self.value}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NVMLError) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


def _make_error_classes() -> None:
    module = sys.modules[__name__]
    for const in [n for n in dir(module) if n.startswith("NVML_ERROR_")]:
        name = "NVMLError_" + string.capwords(const.replace("NVML_ERROR_", ""), "_").replace(
            "_", ""
        )
        code = getattr(module, const)

        def new(cls: type[NVMLError], *args: Any, _code: int = code) -> NVMLError:
            return NVMLError.__new__(cls, _code)

        def init(self: NVMLError, *args: Any, _code: int = code) -> None:
            Exception.__init__(self, _code)

        cls = type(name, (NVMLError,), {"__new__": new, "__init__": init})
        cls.__module__ = __name__
        setattr(module, name, cls)
        NVMLError._valClassMapping[code] = cls


_make_error_classes()
NVMLError_Uninitialized: type[NVMLError]
NVMLError_NotSupported: type[NVMLError]
NVMLError_NotFound: type[NVMLError]
NVMLError_LibraryNotFound: type[NVMLError]
NVMLError_DriverNotLoaded: type[NVMLError]
NVMLError_FunctionNotFound: type[NVMLError]
NVMLError_GpuIsLost: type[NVMLError]


# structures ----------------------------------------------------------------------------------
@dataclass
class c_nvmlMemory_t:
    total: int
    free: int
    used: int


@dataclass
class c_nvmlMemory_v2_t:
    version: int
    total: int
    reserved: int
    free: int
    used: int


@dataclass
class c_nvmlUtilization_t:
    gpu: int
    memory: int


@dataclass
class nvmlPciInfo_t:
    busId: str


@dataclass
class FriendlyProcess:
    pid: int
    usedGpuMemory: int | None
    gpuInstanceId: int = 0xFFFFFFFF
    computeInstanceId: int = 0xFFFFFFFF


# the simulated machine -----------------------------------------------------------------------
@dataclass
class FakeMig:
    uuid: str
    profile: str
    gpu_instance_id: int
    total_mib: int
    used_mib: int


@dataclass
class FakeGpu:
    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    bus_id: str = "00000000:00:09.0"
    total_mib: int = 81559
    reserved_mib: int = 479
    used_mib: int = 0
    free_mib: int = 81081
    temperature: int = 41
    utilization: int = 0
    processes: list[tuple[int, int | None, str]] = field(default_factory=list)
    mig_mode: tuple[int, int] | None = (NVML_DEVICE_MIG_DISABLE, NVML_DEVICE_MIG_DISABLE)
    migs: list[FakeMig] = field(default_factory=list)
    # function name -> error code it raises for this GPU (NotSupported, GpuIsLost...)
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class State:
    gpus: list[FakeGpu] = field(default_factory=list)
    refcount: int = 0
    init_calls: int = 0
    shutdown_calls: int = 0
    init_error: int | None = None
    memory_v2: bool = True
    memory_v2_calls: int = 0
    as_bytes: bool = False
    driver: str = "590.48.01"


STATE = State()


def configure(
    gpus: list[FakeGpu] | None = None,
    *,
    init_error: int | None = None,
    memory_v2: bool = True,
    as_bytes: bool = False,
) -> State:
    """Start over with these GPUs and behaviours; returns the state for assertions."""
    global STATE
    STATE = State(
        gpus=list(gpus or []), init_error=init_error, memory_v2=memory_v2, as_bytes=as_bytes
    )
    return STATE


def h100_load() -> FakeGpu:
    """The H100 80GB HBM3 capture under load (gpu-burn and two memhogs)."""
    return FakeGpu(
        used_mib=19818,
        free_mib=61263,
        temperature=59,
        utilization=100,
        processes=[
            (11327, 2566 * MIB, "/root/tools/memhog"),
            (11328, 1542 * MIB, "/root/tools/memhog"),
            (11345, 15690 * MIB, "./gpu_burn"),
        ],
    )


def h100_mig_load() -> FakeGpu:
    """The H100 MIG capture under load: four MIG devices, utilization not supported."""
    return FakeGpu(
        used_mib=11125,
        free_mib=69956,
        temperature=53,
        processes=[
            (21180, 2296 * MIB, "/root/tools/memhog"),
            (21181, 1272 * MIB, "/root/tools/memhog"),
            (21198, 7484 * MIB, "./gpu_burn"),
        ],
        mig_mode=(NVML_DEVICE_MIG_ENABLE, NVML_DEVICE_MIG_ENABLE),
        migs=[
            FakeMig("MIG-00000000-0000-0000-0000-000000000000", "3g.40gb", 2, 40448, 11091),
            FakeMig("MIG-00000001-0000-0000-0000-000000000001", "2g.20gb", 3, 20096, 17),
            FakeMig("MIG-00000002-0000-0000-0000-000000000002", "1g.10gb", 9, 9984, 9),
            FakeMig("MIG-00000003-0000-0000-0000-000000000003", "1g.10gb", 10, 9984, 9),
        ],
        errors={"nvmlDeviceGetUtilizationRates": NVML_ERROR_NOT_SUPPORTED},
    )


@dataclass(frozen=True)
class _Handle:
    gpu: int
    mig: int | None = None


def _text(value: str) -> Any:
    return value.encode() if STATE.as_bytes else value


def _check(function: str, handle: _Handle | None = None) -> FakeGpu | None:
    if STATE.refcount <= 0:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)
    if handle is None:
        return None
    if not isinstance(handle, _Handle) or handle.gpu >= len(STATE.gpus):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    gpu = STATE.gpus[handle.gpu]
    if function in gpu.errors:
        raise NVMLError(gpu.errors[function])
    return gpu


# the binding's functions ---------------------------------------------------------------------
def nvmlInit() -> None:
    STATE.init_calls += 1
    if STATE.init_error is not None:
        raise NVMLError(STATE.init_error)
    STATE.refcount += 1


def nvmlShutdown() -> None:
    STATE.shutdown_calls += 1
    if STATE.refcount <= 0:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)
    STATE.refcount -= 1


def nvmlSystemGetDriverVersion() -> Any:
    _check("nvmlSystemGetDriverVersion")
    return _text(STATE.driver)


def nvmlSystemGetProcessName(pid: int) -> Any:
    _check("nvmlSystemGetProcessName")
    for gpu in STATE.gpus:
        for p, _mem, name in gpu.processes:
            if p == pid:
                return _text(name)
    raise NVMLError(NVML_ERROR_NOT_FOUND)


def nvmlDeviceGetCount() -> int:
    _check("nvmlDeviceGetCount")
    return len(STATE.gpus)


def nvmlDeviceGetHandleByIndex(index: int) -> _Handle:
    _check("nvmlDeviceGetHandleByIndex")
    if not 0 <= index < len(STATE.gpus):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    gpu = STATE.gpus[index]
    if "nvmlDeviceGetHandleByIndex" in gpu.errors:
        raise NVMLError(gpu.errors["nvmlDeviceGetHandleByIndex"])
    return _Handle(index)


def nvmlDeviceGetName(handle: _Handle) -> Any:
    gpu = _check("nvmlDeviceGetName", handle)
    assert gpu is not None
    if handle.mig is not None:
        return _text(f"{gpu.name} MIG {gpu.migs[handle.mig].profile}")
    return _text(gpu.name)


def nvmlDeviceGetUUID(handle: _Handle) -> Any:
    gpu = _check("nvmlDeviceGetUUID", handle)
    assert gpu is not None
    return _text(gpu.migs[handle.mig].uuid if handle.mig is not None else gpu.uuid)


def nvmlDeviceGetPciInfo(handle: _Handle) -> nvmlPciInfo_t:
    gpu = _check("nvmlDeviceGetPciInfo", handle)
    assert gpu is not None
    return nvmlPciInfo_t(busId=_text(gpu.bus_id))


def nvmlDeviceGetMemoryInfo(handle: _Handle, version: int | None = None) -> Any:
    gpu = _check("nvmlDeviceGetMemoryInfo", handle)
    assert gpu is not None
    if handle.mig is not None:
        mig = gpu.migs[handle.mig]
        free = (mig.total_mib - mig.used_mib) * MIB
        return c_nvmlMemory_t(total=mig.total_mib * MIB, free=free, used=mig.used_mib * MIB)
    total, free = gpu.total_mib * MIB, gpu.free_mib * MIB
    if not version:
        # v1: "used" is everything not free, the driver's reserved memory included
        return c_nvmlMemory_t(total=total, free=free, used=total - free)
    STATE.memory_v2_calls += 1
    if not STATE.memory_v2:
        raise NVMLError(NVML_ERROR_FUNCTION_NOT_FOUND)
    if version != nvmlMemory_v2:
        raise NVMLError(NVML_ERROR_ARGUMENT_VERSION_MISMATCH)
    return c_nvmlMemory_v2_t(
        version=version,
        total=total,
        reserved=gpu.reserved_mib * MIB,
        free=free,
        used=gpu.used_mib * MIB,
    )


def nvmlDeviceGetTemperature(handle: _Handle, sensor: int) -> int:
    gpu = _check("nvmlDeviceGetTemperature", handle)
    assert gpu is not None
    if sensor != NVML_TEMPERATURE_GPU:
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return gpu.temperature


def nvmlDeviceGetUtilizationRates(handle: _Handle) -> c_nvmlUtilization_t:
    gpu = _check("nvmlDeviceGetUtilizationRates", handle)
    assert gpu is not None
    return c_nvmlUtilization_t(gpu=gpu.utilization, memory=0)


def nvmlDeviceGetComputeRunningProcesses(handle: _Handle) -> list[FriendlyProcess]:
    gpu = _check("nvmlDeviceGetComputeRunningProcesses", handle)
    assert gpu is not None
    return [FriendlyProcess(pid=pid, usedGpuMemory=mem) for pid, mem, _name in gpu.processes]


def nvmlDeviceGetMigMode(handle: _Handle) -> list[int]:
    gpu = _check("nvmlDeviceGetMigMode", handle)
    assert gpu is not None
    if gpu.mig_mode is None:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    return list(gpu.mig_mode)


def nvmlDeviceGetMaxMigDeviceCount(handle: _Handle) -> int:
    gpu = _check("nvmlDeviceGetMaxMigDeviceCount", handle)
    assert gpu is not None
    if gpu.mig_mode is None:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    return 7


def nvmlDeviceGetMigDeviceHandleByIndex(handle: _Handle, index: int) -> _Handle:
    gpu = _check("nvmlDeviceGetMigDeviceHandleByIndex", handle)
    assert gpu is not None
    if index >= len(gpu.migs):
        raise NVMLError(NVML_ERROR_NOT_FOUND)
    return _Handle(handle.gpu, index)


def nvmlDeviceGetGpuInstanceId(handle: _Handle) -> int:
    gpu = _check("nvmlDeviceGetGpuInstanceId", handle)
    assert gpu is not None
    if handle.mig is None:
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return gpu.migs[handle.mig].gpu_instance_id


def nvmlDeviceGetComputeInstanceId(handle: _Handle) -> int:
    _check("nvmlDeviceGetComputeInstanceId", handle)
    if handle.mig is None:
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return 0
