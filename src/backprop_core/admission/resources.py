"""What the probes see: typed snapshots of the host and its GPUs, and the probe base classes.

Memory is always in bytes and temperatures in degrees Celsius. ``None`` means "unknown" (the
driver said ``[N/A]``/``Not Supported``, or the probe could not tell); an unknown value never
drops a GPU from a snapshot.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Literal


@dataclass(frozen=True)
class HostInfo:
    """The host's CPU and RAM as one probe read them."""

    hostname: str
    cpu_count: int
    load_1m: float | None
    ram_total_bytes: int
    ram_available_bytes: int

    @property
    def load_per_core(self) -> float | None:
        if self.load_1m is None or self.cpu_count <= 0:
            return None
        return self.load_1m / self.cpu_count


@dataclass(frozen=True)
class GpuProcess:
    """A compute process holding memory on a GPU."""

    pid: int
    name: str | None = None
    used_memory_bytes: int | None = None
    gpu_uuid: str | None = None


@dataclass(frozen=True)
class MigDevice:
    """A MIG instance of a GPU (addressed by its MIG UUID in ``CUDA_VISIBLE_DEVICES``)."""

    uuid: str
    profile: str | None = None
    gpu_instance_id: int | None = None
    compute_instance_id: int | None = None
    memory_total_bytes: int | None = None
    memory_used_bytes: int | None = None
    memory_free_bytes: int | None = None


@dataclass(frozen=True)
class GpuInfo:
    """One physical GPU. ``index`` is the PCI-bus-order index nvidia-smi and NVML use."""

    index: int
    uuid: str | None = None
    name: str | None = None
    pci_bus_id: str | None = None
    memory_total_bytes: int | None = None
    memory_used_bytes: int | None = None
    memory_free_bytes: int | None = None
    temperature_c: float | None = None
    utilization_pct: float | None = None
    processes: tuple[GpuProcess, ...] = ()
    mig_enabled: bool | None = None
    mig_devices: tuple[MigDevice, ...] = ()


@dataclass(frozen=True)
class GpuReading:
    """What a GPU probe returns: the GPUs it saw and the driver it talked to.

    ``warnings`` are one-line notes about partial readings (a process list that could not be
    read, a value the driver printed in an unknown form); the GPUs are still usable.
    """

    gpus: tuple[GpuInfo, ...]
    driver_version: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """The machine at one moment, as the admission policies and the in-run governor see it.

    ``gpu_error`` is set when the GPU probe was unavailable or failed; ``gpus`` is then empty.
    """

    taken_at: float
    host: HostInfo | None
    gpu_probe: str
    gpus: tuple[GpuInfo, ...] = ()
    driver_version: str | None = None
    gpu_error: str | None = None
    host_error: str | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def gpu(self, index: int) -> GpuInfo | None:
        for g in self.gpus:
            if g.index == index:
                return g
        return None


@dataclass(frozen=True)
class Availability:
    """Whether a probe can run here, and if not, why (shown in ``backprop status``)."""

    ok: bool
    reason: str = ""


class HostProbe(ABC):
    """Reads CPU load and RAM. Registered through ``backprop_register_probes``."""

    name: ClassVar[str]
    kind: ClassVar[Literal["host"]] = "host"

    def available(self) -> Availability:
        return Availability(True)

    @abstractmethod
    def snapshot(self) -> HostInfo:
        """Read the host now. Raise ``ProbeError`` with a one-line reason on failure."""


class GpuProbe(ABC):
    """Reads the GPUs. Registered through ``backprop_register_probes``.

    ``priority`` orders ``--gpu-probe auto``: the available probe with the lowest number wins
    (nvml 10, nvidia-smi 20, none 1000).
    """

    name: ClassVar[str]
    kind: ClassVar[Literal["gpu"]] = "gpu"
    priority: ClassVar[int] = 100

    @abstractmethod
    def available(self) -> Availability:
        """Cheap check whether this probe can work here (library present, binary on PATH)."""

    @abstractmethod
    def snapshot(self) -> GpuReading:
        """Read every GPU now. Raise ``ProbeError`` with a one-line reason on failure."""

    def close(self) -> None:  # noqa: B027 - optional hook for probes holding a handle
        """Release what the probe holds (e.g. ``nvmlShutdown``); called once at exit."""
