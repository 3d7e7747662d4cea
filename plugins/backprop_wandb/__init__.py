"""The ``wandb`` importer: runs from W&B offline run folders.

Needs the ``wandb`` extra (``pip install 'backprop[wandb]'``) for W&B's protos; the file layout
is read by ``transaction_log``, the one module that knows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import Importer


@hookimpl
def backprop_register_importers() -> list[type[Importer]]:
    from backprop_wandb.importer import WandbImporter

    return [WandbImporter]
