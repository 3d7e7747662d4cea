"""Shared pieces of the commands that read run records: opening the store, turning records into
rows and JSON, and printing tables (aligned on a terminal, tab-separated otherwise)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import click

from backprop_core.cli.options import settings_from_options
from backprop_core.settings import Settings
from backprop_core.store import Store
from backprop_core.views import (
    checkpoint_view,
    duration_seconds,
    full_run_view,
    human_duration,
    resolve_path,
    run_view,
)

__all__ = [
    "checkpoint_view",
    "duration_seconds",
    "format_duration",
    "format_metrics",
    "format_time",
    "full_run_view",
    "open_from_options",
    "print_table",
    "resolve_path",
    "run_view",
]


def open_from_options(options: Mapping[str, Any]) -> tuple[Settings, Store]:
    """Settings from the command's options and the store they name (reconciled)."""
    from backprop_core.storage import open_store

    settings = settings_from_options(options)
    return settings, open_store(settings)


def format_duration(seconds: float | None) -> str:
    return human_duration(seconds)


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
