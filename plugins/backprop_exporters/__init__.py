"""backprop's own formats, both ways: ``csv`` (one row per metric point) and ``json`` (full
records), exported and imported back exactly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import Exporter, Importer


@hookimpl
def backprop_register_exporters() -> list[type[Exporter]]:
    from backprop_exporters.formats import CsvExporter, JsonExporter

    return [CsvExporter, JsonExporter]


@hookimpl
def backprop_register_importers() -> list[type[Importer]]:
    from backprop_exporters.imports import CsvImporter, JsonImporter

    return [CsvImporter, JsonImporter]
