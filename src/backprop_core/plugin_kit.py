"""Building blocks for plugin authors, beyond the types in ``backprop_core``.

A plugin imports from ``backprop_core`` (types, errors, ``hookimpl``) and from this module,
nothing deeper: these names are kept stable across releases, the modules behind them are not.
The built-in plugins keep the same rule (a test checks it). Like the facade, everything here is
imported lazily, so importing a plugin package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names as mypy and editors see them; at run time they load lazily
    from backprop_core.admission.probing import NoGpuProbe as NoGpuProbe
    from backprop_core.artifacts.records import LATEST as LATEST
    from backprop_core.artifacts.records import use_from_dict as use_from_dict
    from backprop_core.artifacts.records import use_to_dict as use_to_dict
    from backprop_core.artifacts.records import version_from_dict as version_from_dict
    from backprop_core.artifacts.records import version_to_dict as version_to_dict
    from backprop_core.events.checkpoint_keys import checkpoint_key as checkpoint_key
    from backprop_core.events.checkpoint_keys import latest_per_key as latest_per_key
    from backprop_core.events.columns import MetricColumns as MetricColumns
    from backprop_core.events.file_identity import FileIdentity as FileIdentity
    from backprop_core.events.file_identity import identify as identify
    from backprop_core.events.ingest import Columns as Columns
    from backprop_core.events.ingest import Digest as Digest
    from backprop_core.events.ingest import MetricLines as MetricLines
    from backprop_core.events.ingest import as_number as as_number
    from backprop_core.events.ingest import as_step as as_step
    from backprop_core.events.ingest import digest as digest
    from backprop_core.events.ingest import event_from_dict as event_from_dict
    from backprop_core.events.ingest import event_to_dict as event_to_dict
    from backprop_core.events.ingest import metric_values as metric_values
    from backprop_core.events.screening import screen_batch as screen_batch
    from backprop_core.events.sessions import Segments as Segments
    from backprop_core.interop.importer import BATCH_LINES as BATCH_LINES
    from backprop_core.interop.importer import ImportedRun as ImportedRun
    from backprop_core.interop.importer import ImportReport as ImportReport
    from backprop_core.interop.importer import MetricBatcher as MetricBatcher
    from backprop_core.interop.importer import OwnedPoint as OwnedPoint
    from backprop_core.interop.importer import SessionClock as SessionClock
    from backprop_core.interop.importer import SourceError as SourceError
    from backprop_core.interop.importer import batches_of as batches_of
    from backprop_core.interop.importer import imported_run_id as imported_run_id
    from backprop_core.interop.importer import imported_tags as imported_tags
    from backprop_core.interop.importer import missing_extra as missing_extra
    from backprop_core.interop.importer import source_record as source_record
    from backprop_core.interop.importer import write_run as write_run
    from backprop_core.interop.importer import write_runs as write_runs
    from backprop_core.render.runs import full_run_view as full_run_view
    from backprop_core.sdk.values import is_loss_key as is_loss_key
    from backprop_core.store.chunks import CHUNK_POINTS as CHUNK_POINTS
    from backprop_core.store.chunks import NO_STEP as NO_STEP
    from backprop_core.store.chunks import TileRow as TileRow
    from backprop_core.store.chunks import chunk_facts as chunk_facts
    from backprop_core.store.chunks import chunk_points as chunk_points
    from backprop_core.store.chunks import combine_tiles as combine_tiles
    from backprop_core.store.chunks import pack as pack
    from backprop_core.store.chunks import tile_rows as tile_rows
    from backprop_core.store.contract import RESOLVE_HINT as RESOLVE_HINT
    from backprop_core.store.contract import DuplicateRun as DuplicateRun
    from backprop_core.store.contract import EventRow as EventRow
    from backprop_core.store.contract import check_run_id as check_run_id
    from backprop_core.store.files import DISK_FULL_HINT as DISK_FULL_HINT
    from backprop_core.store.files import atomic_write as atomic_write
    from backprop_core.store.files import check_folder_writable as check_folder_writable
    from backprop_core.store.files import disk_is_full as disk_is_full
    from backprop_core.store.files import exclusive_lock as exclusive_lock
    from backprop_core.store.files import move_aside as move_aside
    from backprop_core.store.files import os_error_to_store_error as os_error_to_store_error
    from backprop_core.store.files import warn_moved_aside as warn_moved_aside
    from backprop_core.store.home import is_valid_run_id as is_valid_run_id
    from backprop_core.store.marks import marks_from_rows as marks_from_rows
    from backprop_core.store.params import initial_params as initial_params
    from backprop_core.store.process_identity import hostname as hostname
    from backprop_core.store.records import checkpoint_from_dict as checkpoint_from_dict
    from backprop_core.store.records import checkpoint_to_dict as checkpoint_to_dict
    from backprop_core.store.records import coerce_changes as coerce_changes
    from backprop_core.store.records import json_safe as json_safe
    from backprop_core.store.records import run_copy as run_copy
    from backprop_core.store.records import run_from_dict as run_from_dict
    from backprop_core.store.records import run_to_dict as run_to_dict
    from backprop_core.store.records import session_from_dict as session_from_dict
    from backprop_core.store.records import session_to_dict as session_to_dict
    from backprop_core.store.series import TILE as TILE
    from backprop_core.store.series import Point as Point
    from backprop_core.store.series import expand_sessions as expand_sessions
    from backprop_core.store.series import last_visible as last_visible
    from backprop_core.store.series import pick as pick
    from backprop_core.store.series import plan as plan
    from backprop_core.store.series import series_from_points as series_from_points
    from backprop_core.store.series import supersede_cutoffs as supersede_cutoffs
    from backprop_core.supervisor import SessionContext as SessionContext
    from backprop_core.supervisor import Supervisor as Supervisor

# public name -> module that defines it
_LAZY: dict[str, str] = {
    # stores: turning events into records, the same way in every store
    "screen_batch": "backprop_core.events.screening",
    "digest": "backprop_core.events.ingest",
    "checkpoint_key": "backprop_core.events.checkpoint_keys",
    "latest_per_key": "backprop_core.events.checkpoint_keys",
    "MetricLines": "backprop_core.events.ingest",
    "MetricColumns": "backprop_core.events.columns",
    "Columns": "backprop_core.events.ingest",
    "Digest": "backprop_core.events.ingest",
    "Segments": "backprop_core.events.sessions",
    "event_from_dict": "backprop_core.events.ingest",
    "event_to_dict": "backprop_core.events.ingest",
    "metric_values": "backprop_core.events.ingest",
    # stores: record conversions
    "run_to_dict": "backprop_core.store.records",
    "run_from_dict": "backprop_core.store.records",
    "run_copy": "backprop_core.store.records",
    "session_to_dict": "backprop_core.store.records",
    "session_from_dict": "backprop_core.store.records",
    "checkpoint_to_dict": "backprop_core.store.records",
    "checkpoint_from_dict": "backprop_core.store.records",
    "coerce_changes": "backprop_core.store.records",
    "json_safe": "backprop_core.store.records",
    # stores: artifact records
    "LATEST": "backprop_core.artifacts.records",
    "version_to_dict": "backprop_core.artifacts.records",
    "version_from_dict": "backprop_core.artifacts.records",
    "use_to_dict": "backprop_core.artifacts.records",
    "use_from_dict": "backprop_core.artifacts.records",
    # stores: run ids and resolution
    "DuplicateRun": "backprop_core.store.contract",
    "EventRow": "backprop_core.store.contract",
    "RESOLVE_HINT": "backprop_core.store.contract",
    "check_run_id": "backprop_core.store.contract",
    "marks_from_rows": "backprop_core.store.marks",
    # stores: downsampling (one rule for every store)
    "series_from_points": "backprop_core.store.series",
    "Point": "backprop_core.store.series",
    "TILE": "backprop_core.store.series",
    "plan": "backprop_core.store.series",
    "pick": "backprop_core.store.series",
    # stores: metric points in packed chunks and 64-point tiles (database stores)
    "NO_STEP": "backprop_core.store.chunks",
    "CHUNK_POINTS": "backprop_core.store.chunks",
    "TileRow": "backprop_core.store.chunks",
    "pack": "backprop_core.store.chunks",
    "chunk_points": "backprop_core.store.chunks",
    "chunk_facts": "backprop_core.store.chunks",
    "tile_rows": "backprop_core.store.chunks",
    "combine_tiles": "backprop_core.store.chunks",
    # stores: sessions that rewind (one rule for every store)
    "supersede_cutoffs": "backprop_core.store.series",
    "last_visible": "backprop_core.store.series",
    "expand_sessions": "backprop_core.store.series",
    # stores: run parameters (filters, records from before runs had them)
    "initial_params": "backprop_core.store.params",
    # stores: files under the home
    "atomic_write": "backprop_core.store.files",
    "check_folder_writable": "backprop_core.store.files",
    "exclusive_lock": "backprop_core.store.files",
    "move_aside": "backprop_core.store.files",
    "warn_moved_aside": "backprop_core.store.files",
    "os_error_to_store_error": "backprop_core.store.files",
    "disk_is_full": "backprop_core.store.files",
    "DISK_FULL_HINT": "backprop_core.store.files",
    # exporters
    "full_run_view": "backprop_core.render.runs",
    # importers (docs/interop.md)
    "ImportedRun": "backprop_core.interop.importer",
    "ImportReport": "backprop_core.interop.importer",
    "MetricBatcher": "backprop_core.interop.importer",
    "OwnedPoint": "backprop_core.interop.importer",
    "BATCH_LINES": "backprop_core.interop.importer",
    "SessionClock": "backprop_core.interop.importer",
    "SourceError": "backprop_core.interop.importer",
    "batches_of": "backprop_core.interop.importer",
    "imported_run_id": "backprop_core.interop.importer",
    "imported_tags": "backprop_core.interop.importer",
    "missing_extra": "backprop_core.interop.importer",
    "source_record": "backprop_core.interop.importer",
    "write_run": "backprop_core.interop.importer",
    "write_runs": "backprop_core.interop.importer",
    "as_number": "backprop_core.events.ingest",
    "as_step": "backprop_core.events.ingest",
    "is_valid_run_id": "backprop_core.store.home",
    # probes and monitors
    "hostname": "backprop_core.store.process_identity",
    "NoGpuProbe": "backprop_core.admission.probing",
    "is_loss_key": "backprop_core.sdk.values",
    # watchers: what backprop saw of a file the run made (docs/store.md)
    "FileIdentity": "backprop_core.events.file_identity",
    "identify": "backprop_core.events.file_identity",
    # launchers
    "Supervisor": "backprop_core.supervisor",
    "SessionContext": "backprop_core.supervisor",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'backprop_core.plugin_kit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
