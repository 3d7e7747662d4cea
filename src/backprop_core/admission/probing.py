"""Taking snapshots: choose the probes the settings name and read the machine through them.

A failing or unavailable GPU probe never raises here: the snapshot carries
``gpu_error="unavailable: <reason>"`` and no GPUs, so ``status`` can still show the host and
admission can still decide (the ``gpu-count`` policy then says what it means for the run).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from backprop_core.admission.resources import (
    Availability,
    GpuProbe,
    GpuReading,
    HostInfo,
    HostProbe,
    Snapshot,
)
from backprop_core.errors import BackpropError, UsageError

if TYPE_CHECKING:
    from types import TracebackType

    from backprop_core.plugin.manager import PluginManager
    from backprop_core.settings import Settings

AUTO = "auto"


def _plugins(plugins: PluginManager | None) -> PluginManager:
    if plugins is not None:
        return plugins
    from backprop_core.plugin.manager import get_plugins

    return get_plugins()


def choose_gpu_probe(settings: Settings, plugins: PluginManager | None = None) -> GpuProbe:
    """The GPU probe ``gpu.probe`` names (see ``choose_gpu_probe_noting``)."""
    return choose_gpu_probe_noting(settings, plugins)[0]


def choose_gpu_probe_noting(
    settings: Settings, plugins: PluginManager | None = None
) -> tuple[GpuProbe, tuple[str, ...]]:
    """The GPU probe ``gpu.probe`` names, and why better-ranked probes were passed over.

    ``auto`` takes the first probe, by priority, whose ``available()`` says yes (nvml, then
    nvidia-smi, then none). A named probe is returned even when unavailable, so the snapshot
    can say why. An unknown name is a ``UsageError`` listing the installed probes.
    """
    classes = _plugins(plugins).gpu_probes()
    wanted = settings.gpu.probe
    if wanted != AUTO:
        if wanted not in classes:
            names = ", ".join([AUTO, *classes]) if classes else AUTO
            raise UsageError(f"unknown GPU probe '{wanted}'", hint=f"choose one of: {names}")
        return classes[wanted](), ()
    skipped: list[str] = []
    for name, cls in classes.items():
        probe = cls()
        reason = _availability(probe)
        if reason is None:
            return probe, tuple(skipped)
        skipped.append(f"{name}: {reason}")
        probe.close()
    return NoGpuProbe(), tuple(skipped)


def _availability(probe: GpuProbe) -> str | None:
    """``None`` when the probe can run here, else the reason it cannot."""
    try:
        availability = probe.available()
    except Exception as exc:  # a third-party probe must not break status or run
        return f"{type(exc).__name__}: {exc}"
    return None if availability.ok else (availability.reason or "not available")


class NoGpuProbe(GpuProbe):
    """Zero GPUs, no driver touched: the ``none`` plugin registers it, and the probe choice
    falls back to it when no GPU probe is installed at all (even ``none`` disabled)."""

    name = "none"
    priority = 1000

    def available(self) -> Availability:
        return Availability(True)

    def snapshot(self) -> GpuReading:
        return GpuReading(gpus=())


def _choose_host_probe(plugins: PluginManager) -> HostProbe | None:
    classes = plugins.host_probes()
    if not classes:
        return None
    cls = classes.get("host") or next(iter(classes.values()))
    return cls()


class Prober:
    """The chosen probes, kept for repeated snapshots (the in-run governor polls every few
    seconds; NVML stays initialised between polls). Close it, or use it as a context manager.

    ``notes`` says which better-ranked GPU probes ``auto`` passed over, and why.
    """

    def __init__(
        self,
        settings: Settings,
        plugins: PluginManager | None = None,
        gpu_probe: GpuProbe | None = None,
    ) -> None:
        manager = _plugins(plugins)
        self.notes: tuple[str, ...] = ()
        self._owns_gpu_probe = gpu_probe is None  # a probe handed in is the caller's to close
        if gpu_probe is None:
            gpu_probe, self.notes = choose_gpu_probe_noting(settings, manager)
        self.gpu_probe = gpu_probe
        self.host_probe = _choose_host_probe(manager)

    def snapshot(self) -> Snapshot:
        host, host_error = self._read_host()
        reading, gpu_error = self._read_gpus()
        warnings = list(reading.warnings) if reading else []
        return Snapshot(
            taken_at=time.time(),
            host=host,
            gpu_probe=self.gpu_probe.name,
            gpus=reading.gpus if reading else (),
            driver_version=reading.driver_version if reading else None,
            gpu_error=gpu_error,
            host_error=host_error,
            warnings=tuple(warnings),
        )

    def _read_host(self) -> tuple[HostInfo | None, str | None]:
        if self.host_probe is None:
            return None, "no host probe installed"
        try:
            return self.host_probe.snapshot(), None
        except BackpropError as exc:
            return None, f"unavailable: {exc.message}"
        except Exception as exc:
            return None, f"unavailable: {self.host_probe.name} failed: {type(exc).__name__}: {exc}"

    def _read_gpus(self) -> tuple[GpuReading | None, str | None]:
        probe = self.gpu_probe
        reason = _availability(probe)
        if reason is not None:
            return None, f"unavailable: {reason}"
        try:
            return probe.snapshot(), None
        except BackpropError as exc:
            return None, f"unavailable: {exc.message}"
        except Exception as exc:
            return None, f"unavailable: {probe.name} failed: {type(exc).__name__}: {exc}"

    def close(self) -> None:
        if not self._owns_gpu_probe:
            return
        try:
            self.gpu_probe.close()
        except Exception:  # closing must never mask the result of a command
            pass

    def __enter__(self) -> Prober:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def take_snapshot(
    settings: Settings,
    plugins: PluginManager | None = None,
    gpu_probe: GpuProbe | None = None,
) -> Snapshot:
    """One snapshot with the probes the settings name, or with ``gpu_probe`` when given.

    Probes chosen here are closed afterwards; a ``gpu_probe`` handed in stays open.
    """
    with Prober(settings, plugins, gpu_probe) as prober:
        return prober.snapshot()


def snapshot_as_dict(snapshot: Snapshot) -> dict[str, Any]:
    """The snapshot as the JSON object ``backprop status --json`` prints (see docs/probes.md)."""
    host = snapshot.host
    return {
        "taken_at": snapshot.taken_at,
        "host": None
        if host is None
        else {
            "hostname": host.hostname,
            "cpu_count": host.cpu_count,
            "load_1m": host.load_1m,
            "load_per_core": host.load_per_core,
            "ram_total_bytes": host.ram_total_bytes,
            "ram_available_bytes": host.ram_available_bytes,
        },
        "host_error": snapshot.host_error,
        "gpu_probe": snapshot.gpu_probe,
        "gpu_error": snapshot.gpu_error,
        "driver_version": snapshot.driver_version,
        "gpus": [
            {
                "index": g.index,
                "uuid": g.uuid,
                "name": g.name,
                "pci_bus_id": g.pci_bus_id,
                "memory_total_bytes": g.memory_total_bytes,
                "memory_used_bytes": g.memory_used_bytes,
                "memory_free_bytes": g.memory_free_bytes,
                "temperature_c": g.temperature_c,
                "utilization_pct": g.utilization_pct,
                "mig_enabled": g.mig_enabled,
                "mig_devices": [
                    {
                        "uuid": m.uuid,
                        "profile": m.profile,
                        "gpu_instance_id": m.gpu_instance_id,
                        "compute_instance_id": m.compute_instance_id,
                        "memory_total_bytes": m.memory_total_bytes,
                        "memory_used_bytes": m.memory_used_bytes,
                        "memory_free_bytes": m.memory_free_bytes,
                    }
                    for m in g.mig_devices
                ],
                "processes": [
                    {
                        "pid": p.pid,
                        "name": p.name,
                        "used_memory_bytes": p.used_memory_bytes,
                        "gpu_uuid": p.gpu_uuid,
                    }
                    for p in g.processes
                ],
            }
            for g in snapshot.gpus
        ],
        "warnings": list(snapshot.warnings),
    }
