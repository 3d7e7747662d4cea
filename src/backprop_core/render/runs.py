"""Runs as plain JSON for output: what ``list --json``/``show --json``, the exporters and the
viewer print. Strict JSON: non-finite numbers become "NaN"/"Infinity"/"-Infinity"."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from backprop_core.store.contract import Store
from backprop_core.store.records import (
    ACTIVE_STATUSES,
    CheckpointRecord,
    RunRecord,
    checkpoint_to_dict,
    json_safe,
    run_to_dict,
    session_to_dict,
)


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
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def human_duration(seconds: float | None, *, unknown: str = "-", sep: str = "") -> str:
    """``45s``, ``3m05s``, ``2h07m`` (``sep=" "``: ``3m 05s``), for tables and pages."""
    if seconds is None:
        return unknown
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{sep}{s % 60:02d}s"
    return f"{s // 3600}h{sep}{s % 3600 // 60:02d}m"


def job_text(launcher: dict[str, Any]) -> str | None:
    """A scheduler's job as a session's ``launcher`` field describes it: ``slurm job 812
    PENDING (Priority)``, ``slurm job 812 on gpu-07``; ``None`` for a local session."""
    name = launcher.get("name")
    if not name:
        return None
    parts = [f"{name} job {launcher.get('job_id') or '(being submitted)'}"]
    state, reason = launcher.get("state"), launcher.get("state_reason")
    if state:
        parts.append(f"{state} ({reason})" if reason and reason not in ("None", state) else state)
    if launcher.get("node"):
        parts.append(f"on {launcher['node']}")
    if launcher.get("restart_count"):
        parts.append(f"restart {launcher['restart_count']}")
    return " ".join(parts)


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


def full_run_view(store: Store, run: RunRecord) -> dict[str, Any]:
    """A run with its sessions and checkpoints, as ``show --json`` prints it (run-record v1)."""
    data = run_view(run)
    data["schema"] = "run-record.v1"
    data["sessions"] = json_safe([session_to_dict(s) for s in store.sessions(run.id)])
    data["checkpoints"] = [checkpoint_view(c, run) for c in store.checkpoints(run.id)]
    data["metric_keys"] = store.metric_keys(run.id)
    return data
