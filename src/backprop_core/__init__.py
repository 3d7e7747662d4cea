"""backprop: short, safe, recorded and resumable training runs.

The public API: the SDK a training script uses (``init``, ``log``, ``checkpoint``...), the types
plugins implement and exchange, and ``hookimpl`` to mark hook implementations. Everything is
imported lazily so that ``import backprop_core`` stays cheap inside training scripts.
"""

from __future__ import annotations

import importlib

from backprop_core.__about__ import __version__

# typing.TYPE_CHECKING without importing typing (``backprop --version`` imports this package
# and nothing else); mypy treats the name the same way.
TYPE_CHECKING = False
if TYPE_CHECKING:  # the names as mypy and editors see them; at run time they load lazily
    from typing import Any

    from backprop_core.admission.resources import Availability as Availability
    from backprop_core.admission.resources import GpuInfo as GpuInfo
    from backprop_core.admission.resources import GpuProbe as GpuProbe
    from backprop_core.admission.resources import GpuProcess as GpuProcess
    from backprop_core.admission.resources import GpuReading as GpuReading
    from backprop_core.admission.resources import HostInfo as HostInfo
    from backprop_core.admission.resources import HostProbe as HostProbe
    from backprop_core.admission.resources import MigDevice as MigDevice
    from backprop_core.admission.resources import Snapshot as Snapshot
    from backprop_core.admission.votes import AdmissionRequest as AdmissionRequest
    from backprop_core.admission.votes import Decision as Decision
    from backprop_core.admission.votes import Verdict as Verdict
    from backprop_core.admission.votes import Vote as Vote
    from backprop_core.artifacts.records import ArtifactUse as ArtifactUse
    from backprop_core.artifacts.records import ArtifactVersion as ArtifactVersion
    from backprop_core.errors import AmbiguousRun as AmbiguousRun
    from backprop_core.errors import ArtifactNotFound as ArtifactNotFound
    from backprop_core.errors import BackpropError as BackpropError
    from backprop_core.errors import ConfigError as ConfigError
    from backprop_core.errors import LaunchError as LaunchError
    from backprop_core.errors import ProbeError as ProbeError
    from backprop_core.errors import RunNotFound as RunNotFound
    from backprop_core.errors import StoreCorrupt as StoreCorrupt
    from backprop_core.errors import StoreError as StoreError
    from backprop_core.errors import StoreFull as StoreFull
    from backprop_core.errors import StoreUnreachable as StoreUnreachable
    from backprop_core.errors import UsageError as UsageError
    from backprop_core.events.event import Event as Event
    from backprop_core.events.event import ParseContext as ParseContext
    from backprop_core.events.event import ParseState as ParseState
    from backprop_core.events.parsing import ParsedLines as ParsedLines
    from backprop_core.interop.exporter import Exporter as Exporter
    from backprop_core.interop.importer import Importer as Importer
    from backprop_core.launch.scheduler import JobHere as JobHere
    from backprop_core.launch.scheduler import JobInfo as JobInfo
    from backprop_core.launch.scheduler import JobPhase as JobPhase
    from backprop_core.launch.scheduler import JobRequest as JobRequest
    from backprop_core.launch.scheduler import SchedulerLauncher as SchedulerLauncher
    from backprop_core.launch.spec import FrameworkAdapter as FrameworkAdapter
    from backprop_core.launch.spec import Launcher as Launcher
    from backprop_core.launch.spec import LaunchSpec as LaunchSpec
    from backprop_core.launch.spec import Monitor as Monitor
    from backprop_core.launch.spec import MonitorAction as MonitorAction
    from backprop_core.launch.spec import Preparation as Preparation
    from backprop_core.launch.spec import WatchContext as WatchContext
    from backprop_core.launch.spec import Watcher as Watcher
    from backprop_core.plugin.hookspecs import hookimpl as hookimpl
    from backprop_core.sdk import active_run as active_run
    from backprop_core.sdk import checkpoint as checkpoint
    from backprop_core.sdk import finish as finish
    from backprop_core.sdk import init as init
    from backprop_core.sdk import log as log
    from backprop_core.sdk import log_artifact as log_artifact
    from backprop_core.sdk import resume_from as resume_from
    from backprop_core.sdk import should_checkpoint as should_checkpoint
    from backprop_core.sdk import should_stop as should_stop
    from backprop_core.sdk import summary as summary
    from backprop_core.sdk import use_artifact as use_artifact
    from backprop_core.settings import Settings as Settings
    from backprop_core.settings import resolve_settings as resolve_settings
    from backprop_core.store.contract import Store as Store
    from backprop_core.store.home import Home as Home
    from backprop_core.store.marks import RunMark as RunMark
    from backprop_core.store.params import ParamCondition as ParamCondition
    from backprop_core.store.records import CheckpointRecord as CheckpointRecord
    from backprop_core.store.records import MetricPoint as MetricPoint
    from backprop_core.store.records import MetricSeries as MetricSeries
    from backprop_core.store.records import RunFilter as RunFilter
    from backprop_core.store.records import RunRecord as RunRecord
    from backprop_core.store.records import RunStatus as RunStatus
    from backprop_core.store.records import SessionRecord as SessionRecord
    from backprop_core.store.records import StoredEvent as StoredEvent
    from backprop_core.units import GIB as GIB
    from backprop_core.units import MIB as MIB
    from backprop_core.units import gib as gib
    from backprop_core.units import mib as mib

# public name -> module that defines it
_LAZY: dict[str, str] = {
    # plugins (pluggy is imported only by code that loads or writes plugins, not by the SDK)
    "hookimpl": "backprop_core.plugin.hookspecs",
    # errors
    "BackpropError": "backprop_core.errors",
    "ConfigError": "backprop_core.errors",
    "LaunchError": "backprop_core.errors",
    "ProbeError": "backprop_core.errors",
    "StoreError": "backprop_core.errors",
    "StoreCorrupt": "backprop_core.errors",
    "StoreFull": "backprop_core.errors",
    "StoreUnreachable": "backprop_core.errors",
    "RunNotFound": "backprop_core.errors",
    "AmbiguousRun": "backprop_core.errors",
    "UsageError": "backprop_core.errors",
    "ArtifactNotFound": "backprop_core.errors",
    # resources and admission
    "HostInfo": "backprop_core.admission.resources",
    "GpuInfo": "backprop_core.admission.resources",
    "GpuProcess": "backprop_core.admission.resources",
    "MigDevice": "backprop_core.admission.resources",
    "GpuReading": "backprop_core.admission.resources",
    "Snapshot": "backprop_core.admission.resources",
    "Availability": "backprop_core.admission.resources",
    "HostProbe": "backprop_core.admission.resources",
    "GpuProbe": "backprop_core.admission.resources",
    "MIB": "backprop_core.units",
    "GIB": "backprop_core.units",
    "mib": "backprop_core.units",
    "gib": "backprop_core.units",
    "Vote": "backprop_core.admission.votes",
    "Verdict": "backprop_core.admission.votes",
    "AdmissionRequest": "backprop_core.admission.votes",
    "Decision": "backprop_core.admission.votes",
    # settings
    "Settings": "backprop_core.settings",
    "resolve_settings": "backprop_core.settings",
    # events and records
    "Event": "backprop_core.events.event",
    "ParseContext": "backprop_core.events.event",
    "ParseState": "backprop_core.events.event",
    "ParsedLines": "backprop_core.events.parsing",
    "RunStatus": "backprop_core.store.records",
    "RunRecord": "backprop_core.store.records",
    "SessionRecord": "backprop_core.store.records",
    "CheckpointRecord": "backprop_core.store.records",
    "MetricPoint": "backprop_core.store.records",
    "MetricSeries": "backprop_core.store.records",
    "RunFilter": "backprop_core.store.records",
    "RunMark": "backprop_core.store.marks",
    "StoredEvent": "backprop_core.store.records",
    "ArtifactVersion": "backprop_core.artifacts.records",
    "ArtifactUse": "backprop_core.artifacts.records",
    "Store": "backprop_core.store.contract",
    "Home": "backprop_core.store.home",
    "ParamCondition": "backprop_core.store.params",
    # launch
    "LaunchSpec": "backprop_core.launch.spec",
    "Preparation": "backprop_core.launch.spec",
    "FrameworkAdapter": "backprop_core.launch.spec",
    "Launcher": "backprop_core.launch.spec",
    "SchedulerLauncher": "backprop_core.launch.scheduler",
    "JobRequest": "backprop_core.launch.scheduler",
    "JobInfo": "backprop_core.launch.scheduler",
    "JobPhase": "backprop_core.launch.scheduler",
    "JobHere": "backprop_core.launch.scheduler",
    "Monitor": "backprop_core.launch.spec",
    "MonitorAction": "backprop_core.launch.spec",
    "Watcher": "backprop_core.launch.spec",
    "WatchContext": "backprop_core.launch.spec",
    "Exporter": "backprop_core.interop.exporter",
    "Importer": "backprop_core.interop.importer",
    # SDK (docs/sdk.md)
    "init": "backprop_core.sdk",
    "log": "backprop_core.sdk",
    "checkpoint": "backprop_core.sdk",
    "resume_from": "backprop_core.sdk",
    "should_checkpoint": "backprop_core.sdk",
    "should_stop": "backprop_core.sdk",
    "summary": "backprop_core.sdk",
    "finish": "backprop_core.sdk",
    "log_artifact": "backprop_core.sdk",
    "use_artifact": "backprop_core.sdk",
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
