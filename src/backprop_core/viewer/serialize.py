"""Records and snapshots as the JSON objects the API returns (documented in docs/viewer.md)."""

from __future__ import annotations

import time
from typing import Any

from backprop_core.admission.probing import snapshot_as_dict
from backprop_core.admission.resources import Snapshot
from backprop_core.render.runs import alerts_view, checkpoint_view, superseded_from
from backprop_core.store.contract import Store
from backprop_core.store.records import (
    CheckpointRecord,
    MetricSeries,
    RunRecord,
    SessionRecord,
    session_to_dict,
)
from backprop_core.store.series import session_boundary, supersede_cutoffs


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
        "params": dict(run.params),
        "exit_code": run.exit_code,
        "reason": run.reason,
        "done": run.done,
        "origin": run.origin,
    }


def session_dict(session: SessionRecord, now: float | None = None) -> dict[str, Any]:
    data = session_to_dict(session)
    data["active"] = session.status.active
    # While a session runs its stored active_seconds lags; the timeline needs the live figure.
    if session.status.active and session.ended_at is None:
        now = time.time() if now is None else now
        paused = sum(
            (p.ended_at if p.ended_at is not None else now) - p.started_at for p in session.pauses
        )
        data["active_seconds"] = max(session.active_seconds, now - session.started_at - paused)
    return data


def run_detail(
    run: RunRecord,
    sessions: list[SessionRecord],
    checkpoints: list[CheckpointRecord],
    metric_keys: list[str],
    alerts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One run with everything the run page shows: checkpoints say whether their file still
    exists, sessions from which step a later session superseded their points."""
    out = run_summary(run)
    cutoffs = supersede_cutoffs(sessions)
    out.update(
        {
            "argv": list(run.argv),
            "cwd": run.cwd,
            "command": list(run.command),
            "settings": run.settings,
            "signal": run.signal,
            "summary": run.summary,
            "environment": run.environment,
            "sessions": [
                {**session_dict(s), "superseded_from": superseded_from(s, cutoffs)}
                for s in sessions
            ],
            "checkpoints": [checkpoint_view(c, run) for c in checkpoints],
            "metric_keys": metric_keys,
            "alerts": alerts or [],
        }
    )
    return out


def load_run_detail(store: Store, run: RunRecord) -> dict[str, Any]:
    """``run_detail`` with the run's sessions, checkpoints, metric keys and alerts read from
    ``store``."""
    return run_detail(
        run,
        store.sessions(run.id),
        store.checkpoints(run.id),
        store.metric_keys(run.id),
        alerts_view(store, run.id),
    )


def series_dict(series: MetricSeries) -> dict[str, Any]:
    return {
        "steps": series.steps,
        "times": series.times,
        "values": series.values,
        "sessions": series.sessions,
        "total": series.total,
        "points": len(series),
    }


def session_marks(sessions: list[SessionRecord]) -> list[dict[str, Any]]:
    """Where each session starts on a chart: its start time, and the step from which it
    supersedes earlier points (``boundary``; its first step when it continued past them)."""
    return [
        {
            "number": s.number,
            "status": s.status.value,
            "started_at": s.started_at,
            "first_step": s.first_step,
            "boundary": session_boundary(s),
        }
        for s in sessions
    ]


def snapshot_dict(snapshot: Snapshot, holders: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The machine snapshot plus, per GPU, the active runs that hold it.

    ``holders`` maps a GPU's index (as a string) or uuid to the runs holding it.
    """
    data = snapshot_as_dict(snapshot)  # the shape `backprop status --json` prints
    for gpu, out in zip(snapshot.gpus, data["gpus"]):
        runs = holders.get(str(gpu.index), []) + (holders.get(gpu.uuid, []) if gpu.uuid else [])
        out["runs"] = list({r["id"]: r for r in runs}.values())
    return data
