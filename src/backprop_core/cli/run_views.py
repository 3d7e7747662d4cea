"""Shared pieces of the commands that read run records: opening the store, turning records into
rows and JSON, and printing tables (aligned on a terminal, tab-separated otherwise)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from backprop_core.cli.options import settings_from_options
from backprop_core.records import (
    ACTIVE_STATUSES,
    CheckpointRecord,
    RunRecord,
    checkpoint_to_dict,
    json_safe,
    run_to_dict,
    session_to_dict,
)
from backprop_core.settings import Settings
from backprop_core.store import Store


def open_from_options(options: Mapping[str, Any]) -> tuple[Settings, Store]:
    """Settings from the command's options and the store they name (reconciled)."""
    from backprop_core.storage import open_store

    settings = settings_from_options(options)
    return settings, open_store(settings)


def duration_seconds(run: RunRecord, now: float | None = None) -> float | None:
    """Active (unpaused) time: the sessions' total, or wall time while the run is active."""
    if run.status in ACTIVE_STATUSES and run.started_at is not None:
        return max(run.active_seconds, (now or time.time()) - run.started_at)
    if run.active_seconds:
        return run.active_seconds
    if run.started_at is not None and run.ended_at is not None:
        return max(0.0, run.ended_at - run.started_at)
    return None


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def format_time(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def format_number(value: float | str) -> str:
    if isinstance(value, str):
        return value
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"


def format_metrics(metrics: Mapping[str, float], limit: int | None = 3) -> str:
    items = list(metrics.items())
    if limit is not None:
        items = items[:limit]
    return " ".join(f"{k}={format_number(v)}" for k, v in items) or "-"


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


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], terminal: bool) -> None:
    """An aligned table with a header on a terminal; tab-separated lines otherwise."""
    if not terminal:
        for row in rows:
            click.echo("\t".join(cell.replace("\t", " ").replace("\n", " ") for cell in row))
        return
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
