"""The built-in exporters: ``csv`` (one row per metric point) and ``json`` (full records)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import Exporter


@hookimpl
def backprop_register_exporters() -> list[type[Exporter]]:
    from backprop_exporters.formats import CsvExporter, JsonExporter

    return [CsvExporter, JsonExporter]
