"""Which file a checkpoint names, so that a run keeps one record per file: announcing a path
again replaces the run's older record of it, in every store."""

from __future__ import annotations

import os
from collections.abc import Iterable

from backprop_core.events.file_identity import announced_path
from backprop_core.store.records import CheckpointRecord

#: Checkpoints by the file they name (``checkpoint_key``).
CheckpointsByKey = dict[str, CheckpointRecord]


def checkpoint_key(path: str, cwd: str | None) -> str:
    """Which file a checkpoint path names, for telling whether two announcements are of the
    same file: made absolute against the run's cwd (``~`` expanded) and normalised."""
    return os.path.normpath(announced_path(path, cwd))


def latest_per_key(checkpoints: Iterable[CheckpointRecord], cwd: str | None) -> CheckpointsByKey:
    """The last announcement of each file among ``checkpoints``, keyed by ``checkpoint_key``,
    in the order of those last announcements. A store replaces its older records of the same
    run and key with these: a script that saves ``ckpt.pt`` again has one checkpoint, its
    newest, never older copies of a file that no longer exist."""
    out: CheckpointsByKey = {}
    for checkpoint in checkpoints:
        key = checkpoint_key(checkpoint.path, cwd)
        out.pop(key, None)
        out[key] = checkpoint
    return out
