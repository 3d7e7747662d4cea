"""The ``node`` importer: runs from the Node tool's ``experiments.json``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import Importer


@hookimpl
def backprop_register_importers() -> list[type[Importer]]:
    from backprop_node.node_import import NodeImporter

    return [NodeImporter]
