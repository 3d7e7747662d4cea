"""Adding a file or folder as an artifact version from outside a run's events:
``backprop artifacts add`` (a path, or a checkpoint of a run promoted to an artifact)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from backprop_core.artifacts.objects import Content, ObjectStore
from backprop_core.artifacts.records import ArtifactVersion
from backprop_core.errors import UsageError
from backprop_core.events.file_identity import announced_path, is_inside
from backprop_core.store.contract import Store
from backprop_core.store.home import Home
from backprop_core.store.records import CheckpointRecord, RunRecord


def add_path(
    store: Store,
    path: Path,
    *,
    name: str,
    type: str,
    aliases: list[str],
    metadata: dict[str, Any],
    run_id: str | None,
    link: bool,
    step: int | None = None,
) -> tuple[ArtifactVersion, Content]:
    """Store ``path`` and record it as the next version of ``name``."""
    objects = ObjectStore(store.home.root)
    with objects.lock():  # no gc sweep between storing the bytes and recording them
        content = objects.put(path, link=link or may_link(path, store))
        version = ArtifactVersion(
            name=name,
            digest=content.digest,
            kind=content.kind,
            size=content.size,
            files=content.files,
            type=type,
            run_id=run_id,
            created_at=time.time(),
            step=step,
            aliases=aliases,
            metadata=metadata,
            source=str(path.absolute()),
        )
        return store.add_artifact_version(version), content


def may_link(path: Path, store: Store) -> bool:
    """Whether a file may share its inode with the store without being handed over: it lies
    in the folder of a run that has ended (``runs/<id>/``), where nothing writes any more."""
    try:
        real = os.path.realpath(path)
        runs = os.path.realpath(Home(store.home.root).runs_dir)
    except (OSError, ValueError):
        return False
    if not is_inside(real, runs) or real == runs:
        return False
    run_id = Path(os.path.relpath(real, runs)).parts[0]
    try:
        return not store.get_run(run_id).status.active
    except Exception:
        return False


def checkpoint_to_promote(
    store: Store, run: RunRecord, step: int | None
) -> tuple[CheckpointRecord, Path]:
    """The run's checkpoint at ``step`` (else its newest whose file exists) and its path."""
    checkpoints = sorted(store.checkpoints(run.id), key=lambda c: (c.time, c.step or -1))
    if step is not None:
        checkpoints = [c for c in checkpoints if c.step == step]
        if not checkpoints:
            steps = ", ".join(str(c.step) for c in store.checkpoints(run.id) if c.step is not None)
            raise UsageError(
                f"run {run.id} has no checkpoint at step {step}",
                hint=f"its checkpoints are at steps {steps}" if steps else "it has none",
            )
    for checkpoint in reversed(checkpoints):
        path = announced_path(checkpoint.path, run.cwd)
        if path.exists():
            return checkpoint, path
    raise UsageError(
        f"run {run.id} has no checkpoint whose file still exists"
        + (f" at step {step}" if step is not None else ""),
        hint=f"see: backprop show {run.id}",
    )
