"""Runs as plain JSON for output: what ``list --json``/``show --json``, the exporters and the
viewer print. Strict JSON: non-finite numbers become "NaN"/"Infinity"/"-Infinity"."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backprop_core.store.contract import Store
from backprop_core.store.records import (
    ACTIVE_STATUSES,
    LOCAL_ORIGIN,
    CheckpointRecord,
    RunRecord,
    SessionRecord,
    checkpoint_to_dict,
    json_restored,
    json_safe,
    run_from_dict,
    run_to_dict,
    session_to_dict,
)
from backprop_core.store.series import supersede_cutoffs

#: What ``list --host``, its HOST column and the viewer call runs recorded on this machine.
LOCAL_HOST = "local"


def origin_filter(host: str | None) -> str | None:
    """``RunFilter.origin`` for a ``--host``/``host`` value (``local``: runs made here)."""
    if host is None:
        return None
    return LOCAL_ORIGIN if host == LOCAL_HOST else host


def duration_seconds(run: RunRecord, now: float | None = None) -> float | None:
    """Active (unpaused) time: the sessions' total, or wall time while the run is active."""
    if run.status in ACTIVE_STATUSES and run.started_at is not None:
        return max(run.active_seconds, (now or time.time()) - run.started_at)
    if run.active_seconds:
        return run.active_seconds
    if run.started_at is not None and run.ended_at is not None:
        return max(0.0, run.ended_at - run.started_at)
    return None


def human_time(stamp: float | None, *, unknown: str = "-") -> str:
    """A unix time as local ``YYYY-MM-DD HH:MM:SS``, for tables and pages."""
    if stamp is None:
        return unknown
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))
    except (OverflowError, OSError, ValueError):  # a time no calendar shows (NaN, 1e37…)
        return f"{stamp!r}"


def human_duration(seconds: float | None, *, unknown: str = "-", sep: str = "") -> str:
    """``45s``, ``3m05s``, ``2h07m`` (``sep=" "``: ``3m 05s``), for tables and pages."""
    if seconds is None or not math.isfinite(seconds):
        return unknown
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{sep}{s % 60:02d}s"
    return f"{s // 3600}h{sep}{s % 3600 // 60:02d}m"


def flat_items(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested objects as dotted keys (``config.opt.name``), for tables of settings and
    summaries; lists and other values stay whole."""
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            rows.extend(flat_items(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def resolve_path(path: str, run: RunRecord) -> Path:
    """A checkpoint path as the script announced it, resolved against the run's cwd."""
    p = Path(path).expanduser()
    if not p.is_absolute() and run.cwd:
        p = Path(run.cwd) / p
    return p


def checkpoint_view(checkpoint: CheckpointRecord, run: RunRecord) -> dict[str, Any]:
    data = checkpoint_to_dict(checkpoint)
    data["exists"] = os.path.exists(resolve_path(checkpoint.path, run))
    return json_safe(data)


def run_view(run: RunRecord) -> dict[str, Any]:
    """A run as ``list --json`` prints it (strict JSON: non-finite numbers become strings)."""
    data = run_to_dict(run)
    data["duration_seconds"] = duration_seconds(run)
    return json_safe(data)


def alerts_view(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The run's recorded ``alert`` events, oldest first: from the script (``alert`` events,
    a checkpoint event without a usable path) and from monitors (NaN loss, stall)."""
    alerts = []
    for stored in store.events(run_id, kinds=["alert"]):
        event = stored.event
        alerts.append(
            {
                "time": event.time,
                "session": event.session,
                "step": event.step,
                "level": str(event.payload.get("level") or "warning"),
                "text": str(event.payload.get("text") or ""),
            }
        )
    return alerts


def superseded_from(session: SessionRecord, cutoffs: Mapping[int, int]) -> int | None:
    """The step from which a later session superseded this session's points, when it logged
    any at or past it."""
    cut = cutoffs.get(session.number)
    steps = [s for s in (session.first_step, session.last_step) if s is not None]
    return cut if cut is not None and steps and max(steps) >= cut else None


def newest_values(store: Store, run: RunRecord) -> tuple[int | None, dict[str, float]]:
    """The run's last step and last value of each metric counting every session's points,
    superseded ones included (``--all-sessions``), by arrival."""
    values: dict[str, float] = {}
    newest: tuple[float, int | None] = (-math.inf, None)
    for key in store.metric_keys(run.id):
        series = store.metric_series(run.id, key, max_points=2, all_sessions=True)
        if not len(series):
            continue
        values[key] = series.values[-1]
        if series.steps[-1] is not None and series.times[-1] >= newest[0]:
            newest = (series.times[-1], series.steps[-1])
    return newest[1], values


def full_run_view(store: Store, run: RunRecord, all_sessions: bool = False) -> dict[str, Any]:
    """A run with its sessions, checkpoints and alerts, as ``show --json`` prints it
    (run-record v1). With ``all_sessions`` its last step and metrics count superseded points
    too."""
    data = run_view(run)
    data["schema"] = "run-record.v1"
    sessions = store.sessions(run.id)
    cutoffs = supersede_cutoffs(sessions)
    data["sessions"] = json_safe(
        [{**session_to_dict(s), "superseded_from": superseded_from(s, cutoffs)} for s in sessions]
    )
    data["checkpoints"] = [checkpoint_view(c, run) for c in store.checkpoints(run.id)]
    data["metric_keys"] = store.metric_keys(run.id)
    data["alerts"] = alerts_view(store, run.id)
    if all_sessions:
        step, values = newest_values(store, run)
        data["last_step"] = step if step is not None else run.last_step
        data["last_metrics"] = json_safe(values)
    return data


def run_from_view(view: dict[str, Any]) -> RunRecord:
    """A run back from ``run_view``'s JSON (e.g. ``list --json`` on another machine): metric
    values written as "NaN"/"Infinity" become floats again, so it renders as a local run."""
    data = dict(view)
    for key in ("last_metrics", "summary"):
        if isinstance(data.get(key), dict):
            data[key] = json_restored(data[key])
    return run_from_dict(data)
