"""Turning sessions into records: run creation, session outcomes, the newest usable checkpoint."""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from typing import Any

from backprop_core.errors import BackpropError
from backprop_core.render.runs import resolve_path
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord
from backprop_core.supervisor.session import SessionOutcome

EXIT_CODES = {
    RunStatus.COMPLETED: 0,
    RunStatus.TIMEBOXED: 0,
    RunStatus.INTERRUPTED: 130,
}


def exit_code_for(status: RunStatus) -> int:
    """0 completed or time-boxed, 130 stopped by the user, 1 any failure (docs/architecture.md)."""
    return EXIT_CODES.get(status, 1)


def record_outcome(
    store: Store, run: RunRecord, session: int, outcome: SessionOutcome
) -> tuple[RunRecord, SessionRecord]:
    """Record how session ``session`` ended on it and on its run; the stored run and session."""
    ending: dict[str, Any] = dict(
        status=outcome.status,
        ended_at=outcome.ended_at,
        exit_code=outcome.exit_code,
        signal=outcome.signal,
        reason=outcome.reason,
    )
    # The store adds every session's active time up into the run's.
    recorded = store.update_session(
        run.id, session, active_seconds=outcome.active_seconds, pauses=outcome.pauses, **ending
    )
    return store.update_run(run.id, **ending), recorded


def unrecorded_outcome(
    run: RunRecord, session: int, outcome: SessionOutcome
) -> tuple[RunRecord, SessionRecord]:
    """The records ``record_outcome`` would have stored, for the summary and the plugins, when
    the store cannot take them (a full disk)."""
    ending: dict[str, Any] = dict(
        status=outcome.status,
        ended_at=outcome.ended_at,
        exit_code=outcome.exit_code,
        signal=outcome.signal,
        reason=outcome.reason,
    )
    record = SessionRecord(
        run.id,
        session,
        started_at=outcome.started_at,
        active_seconds=outcome.active_seconds,
        pauses=outcome.pauses,
        **ending,
    )
    return replace(run, **ending), record


def newest_checkpoint(store: Store, run: RunRecord) -> str | None:
    """The newest announced checkpoint whose file or folder still exists, as it was announced."""
    checkpoints = sorted(store.checkpoints(run.id), key=lambda c: (c.time, c.step or -1))
    for cp in reversed(checkpoints):
        if resolve_path(cp.path, run).exists():
            return cp.path
    return None


def mark_failed_launch(store: Store, run: RunRecord, reason: str) -> None:
    """Best effort: the error that stopped the launch is what the user must see."""
    with contextlib.suppress(BackpropError):
        store.update_run(run.id, status=RunStatus.FAILED, ended_at=time.time(), reason=reason)
