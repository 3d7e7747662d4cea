"""Shared pieces of the commands that read run records: opening the store, turning records into
rows and JSON, and printing tables (aligned on a terminal, tab-separated otherwise)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import click

from backprop_core.cli.options import settings_from_options
from backprop_core.render.terminal import terminal_text
from backprop_core.settings import Settings
from backprop_core.store.contract import Store
from backprop_core.store.records import is_system_metric


def open_from_options(
    options: Mapping[str, Any], *, create: bool = False
) -> tuple[Settings, Store]:
    """Settings from the command's options and the store they name (reconciled). A home that
    does not exist is an error unless ``create`` (commands that add runs)."""
    from backprop_core.store.opening import open_store

    settings = settings_from_options(options)
    return settings, open_store(settings, create=create)


def format_number(value: float | str) -> str:
    if isinstance(value, str):
        return value
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"


def format_metrics(metrics: Mapping[str, float], limit: int | None = 3) -> str:
    """``key=value`` pairs, the script's metrics before the sampled ``sys/…`` ones."""
    items = sorted(metrics.items(), key=lambda kv: is_system_metric(kv[0]))
    if limit is not None:
        items = items[:limit]
    return " ".join(f"{k}={format_number(v)}" for k, v in items) or "-"


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], terminal: bool) -> None:
    """An aligned table with a header on a terminal; tab-separated lines otherwise."""
    rows = [[terminal_text(cell) for cell in row] for row in rows]  # tabs, newlines too
    if not terminal:
        for row in rows:
            click.echo("\t".join(row))
        return
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
