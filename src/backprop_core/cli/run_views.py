"""Shared pieces of the commands that read run records: opening the store, turning records into
rows and JSON, and printing tables (aligned on a terminal, tab-separated otherwise)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import click

from backprop_core.cli.options import settings_from_options
from backprop_core.settings import Settings
from backprop_core.store.contract import Store


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
    items = list(metrics.items())
    if limit is not None:
        items = items[:limit]
    return " ".join(f"{k}={format_number(v)}" for k, v in items) or "-"


def _tab_line(row: Sequence[str]) -> str:
    line = "\t".join(row)
    if line.count("\t") == len(row) - 1 and "\n" not in line:
        return line  # the usual case: no cell holds a tab or a newline
    return "\t".join(c.replace("\t", " ").replace("\n", " ") for c in row)


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], terminal: bool) -> None:
    """An aligned table with a header on a terminal; tab-separated lines otherwise. Written in
    one call: tables can have ten thousand rows."""
    if not terminal:
        lines = [_tab_line(row) for row in rows]
    else:
        widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]
        ]
    if lines:
        click.echo("\n".join(lines))
