"""The store contract every store plugin implements (docs/store.md).

Writes are atomic and safe with many processes at once. Callers hand the store typed records
and ``Event`` objects; turning events into metric points, checkpoints and run summaries is the
store's job, done the same way by every store (see ``backprop_core.events.ingest``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from backprop_core.artifacts.records import ArtifactUse, ArtifactVersion
from backprop_core.errors import StoreError
from backprop_core.events.event import Event
from backprop_core.events.ingest import Item, stored_events
from backprop_core.events.screening import screen_batch
from backprop_core.store.home import Home
from backprop_core.store.marks import RunMark
from backprop_core.store.records import (
    CheckpointRecord,
    MetricSeries,
    RunFilter,
    RunRecord,
    SessionRecord,
    StoredEvent,
    run_to_dict,
    session_to_dict,
)

#: An event as stored, its payload as JSON text: (seq, kind, time, step, session, payload). What
#: ``Store.event_rows`` returns, so copying events elsewhere need not decode and re-encode them.
EventRow = tuple[int, str, float, "int | None", "int | None", str]

#: What ``resolve`` accepts, for ``RunNotFound``'s hint.
RESOLVE_HINT = (
    "give a run id, a unique id prefix or suffix, or a run name, as backprop list shows them"
)


#: Store classes bound to a location (``Store.at``), so each URL gets one class.
_BOUND: dict[tuple[type[Store], str], type[Store]] = {}


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
    """A run store rooted at a home folder. Registered through ``backprop_register_stores``.

    A store that keeps its records elsewhere (a database server) names the URL schemes it
    takes in ``schemes``; the ``store`` setting may then be such a URL, and the store class
    is used bound to it (``Store.at``): its ``location`` is the URL, while the home still
    holds run folders, logs and locks. Binding the class rather than passing the URL to each
    instance keeps ``type(store)(home)`` meaning "the same store" everywhere.
    """

    name: ClassVar[str]
    #: URL schemes that select this store when the ``store`` setting is a URL
    #: (``postgresql`` for ``postgresql://…``); empty for stores that live in the home.
    schemes: ClassVar[tuple[str, ...]] = ()
    #: The URL this class is bound to (``Store.at``), ``None`` for stores in the home.
    location: ClassVar[str | None] = None

    def __init__(self, home: Path) -> None:
        self.home = Home(Path(home))

    @classmethod
    def at(cls, location: str) -> type[Store]:
        """This store class bound to ``location`` (a URL with one of ``schemes``); the same
        class object for the same URL, so bound classes compare equal."""
        cls.check_location(location)
        key = (cls, location)
        bound = _BOUND.get(key)
        if bound is None:
            attrs = {"location": location, "__module__": cls.__module__}
            bound = _BOUND[key] = type(cls.__name__, (cls,), attrs)
        return bound

    @classmethod  # noqa: B027 - most stores accept any location
    def check_location(cls, location: str) -> None:
        """Refuse a URL this store cannot use (``ConfigError`` with what to do), before
        anything is opened: ``Store.at`` calls it."""

    @classmethod
    def run_ids_in(cls, home: Path) -> set[str] | None:
        """The ids of the runs this store holds under ``home``, whatever store is configured:
        ``gc`` deletes a run folder only if no store knows its run.

        ``None`` when it cannot be told (then ``gc`` deletes no run folder). By default this
        opens the store and lists it; a store should override it to read without creating or
        changing anything (the built-in ones give an empty set when their file is absent)."""
        try:
            store = cls(home)
            try:
                return {r.id for r in store.list_runs()}
            finally:
                store.close()
        except Exception:
            return None

    # lifecycle ---------------------------------------------------------------------------
    @abstractmethod
    def check_writable(self) -> None:
        """Raise ``StoreError`` with a one-line reason if a run could not be recorded here."""

    def close(self) -> None:  # noqa: B027 - stores without handles need nothing
        """Release connections and file handles."""

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Make the writes inside fewer transactions, for a caller making thousands in a row
        (``pull``): readers in this process see each write as it is made, and each stays whole
        (a write that fails leaves nothing, and the batch goes on). Once the batch is left
        normally, all of its writes are stored; left by an exception, or cut off, it may keep
        any prefix of them (SQLite keeps none: the batch is one transaction, which holds the
        store's write lock until it ends, so keep batches short). Nested batches are part of
        the outer one. This default makes each write its own transaction, as outside a batch."""
        yield

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

    def run_marks(self, origin: str) -> list[RunMark]:
        """A ``RunMark`` for each run from ``origin`` (``LOCAL_ORIGIN``: the runs recorded
        here), newest first as ``list_runs``. ``pull`` reads these for every run on each pull
        and decodes only the runs whose mark changed. This default reads and encodes every
        record; a database store should return the stored text, in one query per table."""
        import json

        runs = self.list_runs(RunFilter(origin=origin))
        marks = []
        for run in runs:
            sessions = self.sessions(run.id)
            text = json.dumps([run_to_dict(run), [session_to_dict(s) for s in sessions]])
            numbers = tuple(s.number for s in sessions)
            marks.append(RunMark(run.id, run.status, self.last_event_seq(run.id), numbers, text))
        return marks

    def beat(self, run_id: str, number: int, at: float) -> None:
        """Record that session ``number``'s supervisor was alive at ``at`` (unix seconds): its
        ``heartbeat_at``, which liveness judges (docs/store.md). A supervisor calls this every
        few seconds, so stores should make it cheap; this default rewrites the session.
        ``RunNotFound`` when there is no such session."""
        self.update_session(run_id, number, heartbeat_at=at)

    # events, metrics, checkpoints -------------------------------------------------------
    @abstractmethod
    def append_events(self, run_id: str, events: Sequence[Event]) -> None:
        """Append a batch of events in one transaction, deriving metric points (with their
        session), checkpoints, summary, params, environment, ``last_metrics``/``last_step``,
        ``done`` and the sessions' ``first_step``/``last_step`` from them (see
        ``backprop_core.events.ingest.Digest``).

        The batch first goes through ``events.screening.screen_batch`` (a step or time no
        store can keep is dropped, never the event), and a checkpoint replaces the run's older
        records of the same file (``events.checkpoint_keys.latest_per_key``), as in every store.

        ``artifact`` and ``use_artifact`` events that carry what backprop witnessed
        (``Event.artifact``, see ``Digest.artifacts`` and ``Digest.uses``) become artifact
        versions of this run (as ``add_artifact_version``) and uses (as
        ``record_artifact_use``) in the same transaction; without it they are only events."""

    def append_batch(self, run_id: str, items: Sequence[Item]) -> None:
        """``append_events`` for what the supervisor collects, in order: events, runs of
        hot-path ``metrics`` events in columns (``MetricLines``), and runs of metric points
        read from printed lines (``MetricColumns``), each stored as a few ``metrics`` events
        holding pieces of its columns (``backprop_core.events.columns``). Stores may override
        it to skip building an ``Event`` per metrics line; the result must be the same.
        Screened first, so that the steps inside stored pieces are screened too."""
        self.append_events(run_id, stored_events(screen_batch(items)))

    @abstractmethod
    def events(
        self,
        run_id: str,
        kinds: Sequence[str] | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """Stored events with ``seq > after_seq`` in order, optionally only of ``kinds``."""

    def event_rows(
        self, run_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[EventRow]:
        """``events`` as ``EventRow``s, the payload as JSON text (which may hold an ``event``
        key, ignored by readers). This default encodes each payload; stores that keep the
        text override it."""
        import json

        return [
            (
                e.seq,
                e.event.kind,
                e.event.time,
                e.event.step,
                e.event.session,
                json.dumps(dict(e.event.payload)),
            )
            for e in self.events(run_id, after_seq=after_seq, limit=limit)
        ]

    def last_event_seq(self, run_id: str) -> int:
        """The run's highest event seq (0 when it has none). This default finds it with
        O(log n) one-event reads; stores that keep the number override it."""

        def has_after(s: int) -> bool:
            return bool(self.events(run_id, None, after_seq=s, limit=1))

        if not has_after(0):
            return 0
        low, high = 0, 1  # has_after(low) is true; find high with has_after(high) false
        while has_after(high):
            low, high = high, high * 2
        while high - low > 1:
            mid = (low + high) // 2
            if has_after(mid):
                low = mid
            else:
                high = mid
        return high

    @abstractmethod
    def checkpoints(self, run_id: str) -> list[CheckpointRecord]:
        """Announced checkpoints, one per file, oldest announcement first."""

    @abstractmethod
    def delete_checkpoints(self, run_id: str, paths: Sequence[str]) -> None:
        """Forget the checkpoints with these paths (as recorded); their files are not touched."""

    @abstractmethod
    def metric_keys(self, run_id: str) -> list[str]:
        """Names of the metrics the run logged, sorted."""

    @abstractmethod
    def metric_series(
        self,
        run_id: str,
        key: str,
        max_points: int | None = None,
        after_step: int | None = None,
        all_sessions: bool = False,
    ) -> MetricSeries:
        """The key's points in order, each with its session; downsampled to at most
        ``max_points`` keeping each bucket's min and max so spikes survive. Points a later
        session superseded (``backprop_core.store.series.supersede_cutoffs``) are left out
        unless ``all_sessions``."""

    # artifacts (docs/artifacts.md) ---------------------------------------------------------
    @classmethod
    def artifact_digests_in(cls, home: Path) -> set[str] | None:
        """The content digests of every artifact version this store holds under ``home``,
        whatever store is configured: ``gc`` deletes an object only if no store needs it.

        ``None`` when it cannot be told (then ``gc`` deletes no object). As with
        ``run_ids_in``, a store should override it to read without creating anything."""
        try:
            store = cls(home)
            try:
                return {v.digest for v in store.artifact_versions()}
            finally:
                store.close()
        except Exception:
            return None

    @abstractmethod
    def add_artifact_version(self, version: ArtifactVersion) -> ArtifactVersion:
        """Record a new version of ``version.name`` and return it as stored: numbered after
        every version the name ever had (v0, v1, …; a deleted number is never given again),
        with ``version.aliases`` and ``latest`` pointing at it (moved from the name's other
        versions). ``version.version`` is ignored."""

    @abstractmethod
    def artifact_versions(
        self, name: str | None = None, *, type: str | None = None, run_id: str | None = None
    ) -> list[ArtifactVersion]:
        """Versions matching every filter given (``run_id``: produced by that run), ordered by
        name, then version number; each with its current aliases (sorted)."""

    @abstractmethod
    def set_artifact_alias(self, name: str, version: int, alias: str) -> None:
        """Point ``alias`` at ``name:v<version>``, moving it from the name's other version;
        ``ArtifactNotFound`` when that version does not exist."""

    @abstractmethod
    def delete_artifact_version(self, name: str, version: int) -> None:
        """Forget ``name:v<version>`` and its aliases (``latest`` moves to the newest version
        left); ``ArtifactNotFound`` when it does not exist. Uses that name it stay."""

    @abstractmethod
    def record_artifact_use(self, use: ArtifactUse) -> None:
        """Record that a run read a version; recording the same run and version again
        replaces the record."""

    @abstractmethod
    def artifact_uses(
        self,
        *,
        run_id: str | None = None,
        name: str | None = None,
        version: int | None = None,
    ) -> list[ArtifactUse]:
        """Uses matching every filter given, oldest first. ``delete_run`` removes the run's
        uses (the versions it produced stay)."""
