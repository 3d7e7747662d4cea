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


def _tab_line(row: Sequence[str]) -> str:
    line = "\t".join(row)
    if line.count("\t") == len(row) - 1 and line.replace("\t", " ").isprintable():
        return line  # the usual case: no cell holds a tab, a newline or a control character
    return "\t".join(terminal_text(cell) for cell in row)


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], terminal: bool) -> None:
    """An aligned table with a header on a terminal; tab-separated lines otherwise. Cells show
    control characters (tabs, newlines too) as escapes. Written in one call: tables can have
    ten thousand rows."""
    if not terminal:
        lines = [_tab_line(row) for row in rows]
    else:
        rows = [[terminal_text(cell) for cell in row] for row in rows]
        widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]
        ]
    if lines:
        click.echo("\n".join(lines))
