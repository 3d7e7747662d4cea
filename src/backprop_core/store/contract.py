"""The store contract every store plugin implements (docs/store.md).

Writes are atomic and safe with many processes at once. Callers hand the store typed records
and ``Event`` objects; turning events into metric points, checkpoints and run summaries is the
store's job, done the same way by every store (see ``backprop_core.events.ingest``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from backprop_core.errors import StoreError
from backprop_core.events.event import Event
from backprop_core.events.ingest import Item, stored_events
from backprop_core.store.home import Home
from backprop_core.store.records import (
    CheckpointRecord,
    MetricSeries,
    RunFilter,
    RunRecord,
    SessionRecord,
    StoredEvent,
)

#: What ``resolve`` accepts, for ``RunNotFound``'s hint.
RESOLVE_HINT = "give a run id, a unique id prefix or suffix, or a run name (see `backprop list`)"


class DuplicateRun(StoreError):
    """``create_run`` was given an id that already exists."""


def check_run_id(run_id: str) -> None:
    """Refuse ids that cannot be folder names (``UsageError``, exit 2)."""
    from backprop_core.errors import UsageError
    from backprop_core.store.home import is_valid_run_id

    if not is_valid_run_id(run_id):
        raise UsageError(
            f"invalid run id {run_id!r}",
            hint="use letters, digits, '.', '_' and '-' (at most 128, no '..')",
        )


class Store(ABC):
    """A run store rooted at a home folder. Registered through ``backprop_register_stores``."""

    name: ClassVar[str]

    def __init__(self, home: Path) -> None:
        self.home = Home(Path(home))

    # lifecycle ---------------------------------------------------------------------------
    @abstractmethod
    def check_writable(self) -> None:
        """Raise ``StoreError`` with a one-line reason if a run could not be recorded here."""

    def close(self) -> None:  # noqa: B027 - stores without handles need nothing
        """Release connections and file handles."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # runs --------------------------------------------------------------------------------
    @abstractmethod
    def create_run(self, run: RunRecord) -> RunRecord:
        """Insert a new run. Raise ``StoreError`` if the id exists."""

    def create_run_unique(self, run: RunRecord, attempts: int = 20) -> RunRecord:
        """Insert ``run``; if its id is taken, retry with fresh ids from ``new_run_id``.

        For ids backprop generated; a user-chosen id that exists is an error.
        """
        from dataclasses import replace

        from backprop_core.store.ids import new_run_id

        for _ in range(attempts - 1):
            try:
                return self.create_run(run)
            except DuplicateRun:
                run = replace(run, id=new_run_id(run.created_at))
        return self.create_run(run)

    def active_runs(self) -> list[RunRecord]:
        """Runs recorded as queued, running or paused (used by liveness reconciliation)."""
        from backprop_core.store.records import ACTIVE_STATUSES

        return self.list_runs(RunFilter(statuses=ACTIVE_STATUSES))

    @abstractmethod
    def update_run(self, run_id: str, **changes: Any) -> RunRecord:
        """Set the given ``RunRecord`` fields and return the updated run."""

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord:
        """The run with exactly this id; ``RunNotFound`` otherwise."""

    @abstractmethod
    def resolve(self, ref: str) -> RunRecord:
        """A run by full id, unique id prefix, unique name, or unique random suffix (the
        part after the last ``-``, e.g. ``ztkc`` for ``20261123-202536-ztkc``), tried in
        that order: the first kind that matches anything decides.

        ``RunNotFound`` when nothing matches, ``AmbiguousRun`` listing candidates otherwise.
        """

    @abstractmethod
    def list_runs(self, flt: RunFilter | None = None) -> list[RunRecord]:
        """Runs matching ``flt``, newest first."""

    @abstractmethod
    def count_runs(self, flt: RunFilter | None = None) -> int:
        """How many runs match ``flt`` (ignoring its limit and offset)."""

    @abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Remove the run and everything recorded for it (not its folder on disk)."""

    # sessions ----------------------------------------------------------------------------
    @abstractmethod
    def add_session(self, session: SessionRecord) -> None:
        """Record a new session and bump the run's ``session_count``."""

    @abstractmethod
    def update_session(self, run_id: str, number: int, **changes: Any) -> SessionRecord:
        """Set the given ``SessionRecord`` fields and return the updated session. Changing
        ``active_seconds`` also sets the run's to the sum over all its sessions."""

    @abstractmethod
    def sessions(self, run_id: str) -> list[SessionRecord]:
        """The run's sessions in order."""

    # events, metrics, checkpoints -------------------------------------------------------
    @abstractmethod
    def append_events(self, run_id: str, events: Sequence[Event]) -> None:
        """Append a batch of events in one transaction, deriving metric points, checkpoints,
        summary, ``last_metrics``/``last_step`` and ``done`` from them."""

    def append_batch(self, run_id: str, items: Sequence[Item]) -> None:
        """``append_events`` for what the supervisor collects, in order: events, runs of
        hot-path ``metrics`` events in columns (``MetricLines``), and runs of metric points
        read from printed lines (``MetricColumns``), each stored as a few ``metrics`` events
        holding pieces of its columns (``backprop_core.events.columns``). Stores may override
        it to skip building an ``Event`` per metrics line; the result must be the same."""
        self.append_events(run_id, stored_events(items))

    @abstractmethod
    def events(
        self,
        run_id: str,
        kinds: Sequence[str] | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """Stored events with ``seq > after_seq`` in order, optionally only of ``kinds``."""

    @abstractmethod
    def checkpoints(self, run_id: str) -> list[CheckpointRecord]:
        """Announced checkpoints, oldest first."""

    @abstractmethod
    def delete_checkpoints(self, run_id: str, paths: Sequence[str]) -> None:
        """Forget checkpoints (after ``gc`` removed their files)."""

    @abstractmethod
    def metric_keys(self, run_id: str) -> list[str]:
        """Names of the metrics the run logged, sorted."""

    @abstractmethod
    def metric_series(
        self, run_id: str, key: str, max_points: int | None = None, after_step: int | None = None
    ) -> MetricSeries:
        """The key's points in order; downsampled to at most ``max_points`` keeping each
        bucket's min and max so spikes survive."""
