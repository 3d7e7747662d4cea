"""The ``mlflow`` importer: runs from an MLflow file store or SQLite tracking database.

Reads the stores directly (SQLite from the standard library; the file store's ``meta.yaml``
with PyYAML, the ``mlflow`` extra), so MLflow itself need not be installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import Importer


@hookimpl
def backprop_register_importers() -> list[type[Importer]]:
    from backprop_mlflow.importer import MlflowImporter

    return [MlflowImporter]
