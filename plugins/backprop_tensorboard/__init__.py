"""TensorBoard event files both ways: the ``tensorboard`` exporter and importer, and the
``tensorboard`` watcher that records the event files a script writes while it runs.

Needs the ``tensorboard`` extra (``pip install 'backprop[tensorboard]'``: protobuf, the event
protos from tensorboardX, and CRC-32C); without it, using the format says so in one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import Exporter, Importer, Watcher


@hookimpl
def backprop_register_exporters() -> list[type[Exporter]]:
    from backprop_tensorboard.export import TensorBoardExporter

    return [TensorBoardExporter]


@hookimpl
def backprop_register_importers() -> list[type[Importer]]:
    from backprop_tensorboard.importer import TensorBoardImporter

    return [TensorBoardImporter]


@hookimpl
def backprop_register_watchers() -> list[type[Watcher]]:
    from backprop_tensorboard.watcher import TensorBoardWatcher

    return [TensorBoardWatcher]
