"""Checkpoints found without being announced: a watcher that records the checkpoint files a
script writes under its working directory (docs/unmodified-scripts.md, "Checkpoints found by
watching")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import Watcher


@hookimpl
def backprop_register_watchers() -> list[type[Watcher]]:
    from backprop_checkpoint_watch.watcher import CheckpointWatcher

    return [CheckpointWatcher]
