"""backprop: short, safe, recorded and resumable training runs.

The public API: the SDK a training script uses (``init``, ``log``, ``checkpoint``...), the types
plugins implement and exchange, and ``hookimpl`` to mark hook implementations. Everything is
imported lazily so that ``import backprop_core`` stays cheap inside training scripts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from backprop_core.__about__ import __version__

if TYPE_CHECKING:
    from backprop_core.hookspecs import hookimpl as hookimpl

# public name -> module that defines it
_LAZY: dict[str, str] = {
    # plugins (pluggy is imported only by code that loads or writes plugins, not by the SDK)
    "hookimpl": "backprop_core.hookspecs",
    # errors
    "BackpropError": "backprop_core.errors",
    "ConfigError": "backprop_core.errors",
    "ProbeError": "backprop_core.errors",
    "StoreError": "backprop_core.errors",
    "StoreCorrupt": "backprop_core.errors",
    "RunNotFound": "backprop_core.errors",
    # resources and admission
    "HostInfo": "backprop_core.resources",
    "GpuInfo": "backprop_core.resources",
    "GpuProcess": "backprop_core.resources",
    "MigDevice": "backprop_core.resources",
    "GpuReading": "backprop_core.resources",
    "Snapshot": "backprop_core.resources",
    "Availability": "backprop_core.resources",
    "HostProbe": "backprop_core.resources",
    "GpuProbe": "backprop_core.resources",
    "MIB": "backprop_core.units",
    "GIB": "backprop_core.units",
    "Vote": "backprop_core.admission",
    "Verdict": "backprop_core.admission",
    "AdmissionRequest": "backprop_core.admission",
    "Decision": "backprop_core.admission",
    # settings
    "Settings": "backprop_core.settings",
    "resolve_settings": "backprop_core.settings",
    # events and records
    "Event": "backprop_core.events",
    "ParseContext": "backprop_core.events",
    "RunStatus": "backprop_core.records",
    "RunRecord": "backprop_core.records",
    "SessionRecord": "backprop_core.records",
    "CheckpointRecord": "backprop_core.records",
    "MetricPoint": "backprop_core.records",
    "MetricSeries": "backprop_core.records",
    "RunFilter": "backprop_core.records",
    "Store": "backprop_core.store",
    "Home": "backprop_core.paths",
    # launch
    "LaunchSpec": "backprop_core.launch",
    "Preparation": "backprop_core.launch",
    "FrameworkAdapter": "backprop_core.launch",
    "Launcher": "backprop_core.launch",
    "Monitor": "backprop_core.launch",
    "MonitorAction": "backprop_core.launch",
    "Exporter": "backprop_core.exporters",
    # SDK (SPEC §8)
    "init": "backprop_core.sdk",
    "log": "backprop_core.sdk",
    "checkpoint": "backprop_core.sdk",
    "resume_from": "backprop_core.sdk",
    "should_checkpoint": "backprop_core.sdk",
    "should_stop": "backprop_core.sdk",
    "summary": "backprop_core.sdk",
    "finish": "backprop_core.sdk",
    "active_run": "backprop_core.sdk",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'backprop_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
