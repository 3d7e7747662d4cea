"""Records and snapshots as the JSON objects the API returns (documented in docs/viewer.md)."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from backprop_core.records import (
    CheckpointRecord,
    MetricSeries,
    RunRecord,
    SessionRecord,
)
from backprop_core.resources import GpuInfo, Snapshot


def run_summary(run: RunRecord) -> dict[str, Any]:
    """What the runs table shows for one run."""
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status.value,
        "active": run.status.active,
        "tags": dict(run.tags),
        "project": run.project,
        "script": run.script,
        "framework": run.framework,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "session_count": run.session_count,
        "checkpoint_count": run.checkpoint_count,
        "active_seconds": run.active_seconds,
        "last_step": run.last_step,
        "last_metrics": dict(run.last_metrics),
        "exit_code": run.exit_code,
        "reason": run.reason,
        "done": run.done,
    }


def session_dict(session: SessionRecord, now: float | None = None) -> dict[str, Any]:
    data = dataclasses.asdict(session)
    data["status"] = session.status.value
    data["active"] = session.status.active
    # While a session runs its stored active_seconds lags; the timeline needs the live figure.
    if session.status.active and session.ended_at is None:
        now = time.time() if now is None else now
        paused = sum(
            (p.ended_at if p.ended_at is not None else now) - p.started_at for p in session.pauses
        )
        data["active_seconds"] = max(session.active_seconds, now - session.started_at - paused)
    return data


def checkpoint_dict(checkpoint: CheckpointRecord) -> dict[str, Any]:
    return dataclasses.asdict(checkpoint)


def run_detail(
    run: RunRecord,
    sessions: list[SessionRecord],
    checkpoints: list[CheckpointRecord],
    metric_keys: list[str],
) -> dict[str, Any]:
    """One run with everything the run page shows."""
    out = run_summary(run)
    out.update(
        {
            "argv": list(run.argv),
            "cwd": run.cwd,
            "command": list(run.command),
            "settings": run.settings,
            "signal": run.signal,
            "summary": run.summary,
            "environment": run.environment,
            "sessions": [session_dict(s) for s in sessions],
            "checkpoints": [checkpoint_dict(c) for c in checkpoints],
            "metric_keys": metric_keys,
        }
    )
    return out


def series_dict(series: MetricSeries) -> dict[str, Any]:
    return {
        "steps": series.steps,
        "times": series.times,
        "values": series.values,
        "total": series.total,
        "points": len(series),
    }


def gpu_dict(gpu: GpuInfo, holders: list[dict[str, Any]]) -> dict[str, Any]:
    data = dataclasses.asdict(gpu)
    data["runs"] = holders
    return data


def snapshot_dict(snapshot: Snapshot, holders: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The machine snapshot plus, per GPU, the active runs that hold it.

    ``holders`` maps a GPU's index (as a string) or uuid to the runs holding it.
    """
    host = None
    if snapshot.host is not None:
        host = dataclasses.asdict(snapshot.host)
        host["load_per_core"] = snapshot.host.load_per_core
    gpus = []
    for gpu in snapshot.gpus:
        runs = holders.get(str(gpu.index), []) + (holders.get(gpu.uuid, []) if gpu.uuid else [])
        unique = list({r["id"]: r for r in runs}.values())
        gpus.append(gpu_dict(gpu, unique))
    return {
        "taken_at": snapshot.taken_at,
        "host": host,
        "gpu_probe": snapshot.gpu_probe,
        "driver_version": snapshot.driver_version,
        "gpus": gpus,
        "gpu_error": snapshot.gpu_error,
        "host_error": snapshot.host_error,
        "warnings": list(snapshot.warnings),
    }
