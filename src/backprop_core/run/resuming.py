"""Where the next session of a run starts (lifecycle step 8 in docs/architecture.md): the
newest checkpoint known for the run, and whether its script is told to load it.

Known checkpoints are those recorded for the run (announced by the script or found by
watching) whose file still exists and the one given with ``-r`` (remembered with the run); only
when there is none of those, the ones the watchers find on disk that changed since the run was
created. A resume never silently starts a script from scratch next to checkpoints of its own:
when the newest one was only found, never announced, and no ``--resume-arg`` tells the script
about it, it is refused unless ``--from-scratch``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backprop_core.errors import RunStateError
from backprop_core.events.checkpoint_keys import checkpoint_key
from backprop_core.events.ingest import event_step
from backprop_core.launch.spec import WatchContext
from backprop_core.plugin.manager import get_plugins
from backprop_core.render.runs import resolve_path
from backprop_core.run.spec import Command
from backprop_core.settings.model import Settings
from backprop_core.store.contract import Store
from backprop_core.store.records import CheckpointRecord, RunRecord

#: Where each kind of known checkpoint comes from, as the messages say it.
RECORDED, GIVEN, FOUND = "recorded", "given with -r", "found on disk"


@dataclass(frozen=True)
class Start:
    """What a session starts from: a checkpoint (``None``: from scratch), its step and epoch
    when they are known (``BACKPROP_RESUME_STEP``/``_EPOCH``), and a line for the user."""

    checkpoint: str | None = None
    step: int | None = None
    epoch: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class Known:
    """A checkpoint of the run that is on disk now."""

    path: str
    time: float
    origin: str
    step: int | None = None
    epoch: int | None = None


def launch_options(run: RunRecord) -> dict[str, Any]:
    """What ``run`` stored beyond its settings to rebuild its command line."""
    launch = run.environment.get("launch") if isinstance(run.environment, dict) else None
    return dict(launch) if isinstance(launch, dict) else {}


def _epoch(checkpoint: CheckpointRecord) -> int | None:
    value = checkpoint.metrics.get("epoch")
    return int(value) if isinstance(value, float) and value.is_integer() else None


def known_checkpoints(store: Store, run: RunRecord, settings: Settings) -> list[Known]:
    """Every checkpoint of ``run`` on disk now, oldest first (see the module's docstring)."""
    found: dict[str, Known] = {}
    for cp in store.checkpoints(run.id):
        if resolve_path(cp.path, run).exists():
            known = Known(cp.path, cp.time, RECORDED, cp.step, _epoch(cp))
            found[checkpoint_key(cp.path, run.cwd)] = known
    given = launch_options(run).get("resumeFrom")
    if isinstance(given, str) and given:
        try:
            mtime = resolve_path(given, run).stat().st_mtime
        except OSError:
            pass
        else:
            found.setdefault(checkpoint_key(given, run.cwd), Known(given, mtime, GIVEN))
    # The watchers' look on disk is for a run whose records name no checkpoint that still
    # exists (Watcher.resumable): a file whose record was forgotten is not brought back.
    if not found and run.cwd and os.path.isdir(run.cwd):
        context = WatchContext(
            run_id=run.id,
            session=run.session_count + 1,
            cwd=Path(run.cwd),
            home=settings.home,
            settings=settings,
            created_at=run.created_at,
            started_at=time.time(),
        )
        for watcher in get_plugins().watchers().values():
            for event in watcher.resumable(context):
                path = event.payload.get("path")
                if isinstance(path, str) and path:
                    known = Known(path, event.time, FOUND, event_step(event))
                    found.setdefault(checkpoint_key(path, run.cwd), known)
    return sorted(found.values(), key=lambda k: k.time)


def next_start(
    store: Store,
    run: RunRecord,
    command: Command,
    settings: Settings,
    *,
    given: str | None = None,
    from_scratch: bool = False,
) -> Start:
    """Where the next session of ``run`` starts. Raises ``RunStateError`` when it would start
    from scratch next to checkpoints of its own that its script is not told about."""
    if given:
        return Start(given)
    if from_scratch:
        return Start(note="starting from scratch (--from-scratch)")
    known = known_checkpoints(store, run, settings)
    recorded = store.checkpoints(run.id)
    if not known:
        if recorded:
            return Start(note="no checkpoint of this run exists any more: starting from scratch")
        return Start(note="no checkpoint of this run is known: starting from scratch")
    newest = known[-1]
    # A script that announced a checkpoint itself reads BACKPROP_RESUME_FROM; so does one the
    # user started with -r.
    told = (
        command.resume_arg is not None
        or newest.origin == GIVEN
        or any(cp.found_by is None for cp in recorded)
    )
    if not told:
        how = "found by watching" if newest.origin == RECORDED else newest.origin
        raise RunStateError(
            f"run {run.id} has checkpoints of its own ({newest.path}, {how}), but nothing tells "
            "its script to resume from them: it would start from scratch, and may overwrite them",
            hint="name the script's resume flag with --resume-arg (hf, lightning, nanogpt, "
            'resume, self, or a template such as "--resume {checkpoint}"), '
            "or start over with --from-scratch",
        )
    return Start(newest.path, newest.step, newest.epoch)
