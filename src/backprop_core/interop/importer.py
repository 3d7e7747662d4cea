"""Importer plugin base: turns what another tool wrote into stored runs (``backprop import``).

An importer plans each run it finds as an ``ImportedRun`` (the record, its sessions, and its
events as a stream of batches) and hands it to ``write_run``, which every importer shares: a run
already imported is skipped, a run is written all or nothing, and every imported run is tagged
``imported-from=<format>`` (so ``gc`` and ``rm`` never delete a file it names) and records where
it came from in ``environment.imported_from``.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from backprop_core.errors import RunNotFound, UsageError
from backprop_core.events.event import Event
from backprop_core.events.ingest import MetricLines
from backprop_core.interop.read_ahead import READ_AHEAD_BYTES, can_read_ahead, read_ahead
from backprop_core.store.bulk import collector_paused
from backprop_core.store.contract import DuplicateRun, Store
from backprop_core.store.home import is_valid_run_id
from backprop_core.store.records import RunRecord, SessionRecord

#: The tag every imported run carries; ``store.ownership`` reads it.
IMPORTED_TAG = "imported-from"
#: Metric lines per batch handed to the store: large enough to amortise a transaction, small
#: enough that a million-point import never holds every point in memory at once.
BATCH_LINES = 50_000


@dataclass
class ImportReport:
    """What an import did: run ids imported and skipped (already there), and one line for each
    thing it could not import."""

    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: What was imported with something left out (a damaged file's end...), one line each.
    warnings: list[str] = field(default_factory=list)


class Importer(ABC):
    """Reads runs from ``path`` into ``store``. ``detect`` must be cheap and never raise."""

    name: ClassVar[str]
    #: What the format reads, in a few words (``backprop import --help`` lists them).
    description: ClassVar[str] = ""
    #: When several importers detect a path, the lowest priority is used.
    priority: ClassVar[int] = 100

    @classmethod
    @abstractmethod
    def detect(cls, path: Path) -> bool:
        """Whether ``path`` looks like this format."""

    @abstractmethod
    def import_into(self, store: Store, path: Path) -> ImportReport:
        """Import every run found at ``path``; problems go into the report, one line each."""


class SourceError(Exception):
    """The source of a run cannot be read (any longer); the message says what and where."""


@dataclass
class ImportedRun:
    """One run as an importer plans it.

    ``batches`` is consumed once, while the run is written: each batch is a list of events and
    ``MetricLines`` (see ``MetricBatcher``) for one session, or whatever ``finish`` turns into
    one. Raising ``SourceError`` while it is consumed rejects the run; what was written of it is
    removed again.
    """

    run: RunRecord
    sessions: list[SessionRecord]
    batches: Iterable[Any] = ()
    #: Names the run in messages: its folder, file or id in the source.
    label: str = ""
    #: Run fields set once every event is written (what the events would otherwise decide);
    #: ``batches`` may fill it in as it reads.
    finally_set: dict[str, Any] = field(default_factory=dict)
    #: Session fields by session number, set once every event is written, like ``finally_set``.
    session_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Warnings about this run, which ``batches`` may add to as it reads.
    warnings: list[str] = field(default_factory=list)
    #: About how many bytes ``batches`` reads: a large source is read in a child process
    #: while this one stores (``read_ahead``), so ``batches`` must not rely on this process's
    #: state beyond the plan itself.
    source_bytes: int = 0
    #: Turns what ``batches`` yields into a store batch, always in this process: when a child
    #: reads the source (``read_ahead``), the work done here balances the work done there.
    finish: Callable[[Any], Sequence[Event | MetricLines]] | None = None


def imported_run_id(fmt: str, label: str, key: str) -> str:
    """A stable, valid run id for a run imported from ``fmt``: ``label`` cleaned up, then a
    digest of ``key`` (what identifies the run in its source, such as its absolute path), so
    importing the same source twice finds the run already there."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-.")[:80] or "run"
    digest = hashlib.sha1(f"{fmt}\0{key}".encode()).hexdigest()[:8]
    candidate = f"{fmt}-{clean}-{digest}"
    return candidate if is_valid_run_id(candidate) else f"{fmt}-{digest}"


def source_record(fmt: str, path: Path, **details: Any) -> dict[str, Any]:
    """``environment.imported_from`` of an imported run: the format, the absolute path read,
    and what else identifies the run there."""
    return {"format": fmt, "path": str(path.resolve()), **details}


def imported_tags(fmt: str, tags: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The source's tags as strings, plus ``imported-from=<fmt>`` (which always wins)."""
    out = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (tags or {}).items()}
    out[IMPORTED_TAG] = fmt
    return out


def _present(store: Store, run_id: str) -> bool:
    """Whether the run is already there. A run an older backprop left half-imported (no
    session recorded) is removed, so that it is imported again whole."""
    try:
        existing = store.get_run(run_id)
    except RunNotFound:
        return False
    if IMPORTED_TAG in existing.tags and existing.session_count == 0:
        store.delete_run(run_id)
        return False
    return True


def write_run(store: Store, planned: ImportedRun, report: ImportReport) -> None:
    """Write one planned run, all or nothing; skip it when it is already there."""
    run_id = planned.run.id
    label = planned.label or run_id
    if _present(store, run_id):
        report.skipped.append(run_id)
        return
    try:
        store.create_run(planned.run)
    except DuplicateRun:
        report.skipped.append(run_id)
        return
    if planned.source_bytes >= READ_AHEAD_BYTES and can_read_ahead():
        read_ahead(planned)
    try:
        for session in planned.sessions:
            store.add_session(session)
        finish = planned.finish
        for part in planned.batches:
            batch = part if finish is None else finish(part)
            if batch:
                store.append_batch(run_id, batch)
        for number, changes in planned.session_updates.items():
            store.update_session(run_id, number, **changes)
        if planned.finally_set:
            store.update_run(run_id, **planned.finally_set)
    except BaseException as exc:  # Ctrl-C too: a half-written run would pass for imported
        close = getattr(planned.batches, "close", None)
        if close is not None:  # now, not when collected: it may hold files or a child process
            with contextlib.suppress(Exception):
                close()
        with contextlib.suppress(Exception):
            store.delete_run(run_id)
        if not isinstance(exc, Exception):
            raise
        report.problems.append(f"{label} was not imported: {exc}")
        return
    report.imported.append(run_id)
    report.warnings += [f"{label}: {warning}" for warning in planned.warnings]


def write_runs(store: Store, runs: Iterable[ImportedRun], report: ImportReport) -> ImportReport:
    """``write_run`` for each planned run; a run whose planning fails with ``SourceError`` is
    reported and the others are imported."""
    iterator = iter(runs)
    with collector_paused():
        while True:
            try:
                planned = next(iterator)
            except StopIteration:
                return report
            except SourceError as exc:
                report.problems.append(str(exc))
                continue
            write_run(store, planned, report)


class SessionClock:
    """Which session a point belongs to, from its time: the last session started at or before
    it (the first for points older than every session)."""

    def __init__(self, sessions: Sequence[SessionRecord]) -> None:
        ordered = sorted(sessions, key=lambda s: s.number)
        self._starts = [s.started_at for s in ordered]
        self._numbers = [s.number for s in ordered] or [1]

    def session_at(self, time: float) -> int:
        i = bisect.bisect_right(self._starts, time) - 1
        return self._numbers[max(i, 0)]


def _number_text(value: float) -> str:
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


class MetricBatcher:
    """Builds ``MetricLines`` from points as a source yields them: one ``metrics`` event per
    ``add``, at its own time and step, in batches of at most ``BATCH_LINES`` events."""

    def __init__(self, session: int = 1) -> None:
        self.session = session
        self._keys: dict[str, str] = {}  # key -> its JSON text
        self._lines = MetricLines(session)
        self._done: list[Event | MetricLines] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(
        self, time: float, step: int | None, data: Mapping[str, float], session: int | None = None
    ) -> None:
        """One event's values (floats; NaN and ±Inf kept), in ``session`` (default: as
        before)."""
        self.add_many([(time, step, dict(data))], session)

    def add_many(self, events: Sequence[OwnedPoint], session: int | None = None) -> None:
        """``add`` for many events, each ``(time, step, values)``; the values dicts become the
        batcher's own (the caller builds them afresh). Importers reading many points at once
        call this: a call per point costs as much as the rest of the work for it."""
        if session is not None and session != self.session:
            if len(self._lines):
                self._done.append(self._lines)
            self.session = session
            self._lines = MetricLines(session)
        keys = self._keys
        lines = self._lines
        texts, times, steps, datas = lines.texts, lines.times, lines.steps, lines.data
        for time, step, data in events:
            if len(data) == 1:  # the usual case for imports: one value per event
                ((key, value),) = data.items()
                text = keys.get(key)
                if text is None:
                    text = keys[key] = json.dumps(key)
                # value - value is 0.0 exactly for finite values (NaN and ±Inf give NaN)
                if value - value == 0.0:
                    body = f"{text}:{value!r}"
                else:
                    body = f"{text}:{_number_text(value)}"
            else:
                parts = []
                for key, value in data.items():
                    text = keys.get(key)
                    if text is None:
                        text = keys[key] = json.dumps(key)
                    parts.append(f"{text}:{_number_text(value)}")
                body = ",".join(parts)
            if step is None:
                texts.append('{"event":"metrics","data":{' + body + "}}")
            else:
                texts.append(f'{{"event":"metrics","step":{step},"data":{{{body}}}}}')
            times.append(time)
            steps.append(step)
            datas.append(data)
        self._count += len(events)

    def full(self) -> bool:
        return self._count >= BATCH_LINES

    def take(self) -> list[Event | MetricLines]:
        """What was collected so far as one batch (empty when nothing was)."""
        out = self._done
        if len(self._lines):
            out.append(self._lines)
        self._done, self._lines, self._count = [], MetricLines(self.session), 0
        return out


Point = tuple[float, "int | None", Mapping[str, float]]
#: A point whose values dict ``MetricBatcher.add_many`` may keep.
OwnedPoint = tuple[float, "int | None", dict[str, float]]


def batches_of(
    batcher: MetricBatcher, points: Iterable[Point]
) -> Iterator[list[Event | MetricLines]]:
    """Batches of ``(time, step, values)`` events, as ``ImportedRun.batches`` wants them."""
    for t, step, data in points:
        batcher.add(t, step, data)
        if batcher.full():
            yield batcher.take()
    rest = batcher.take()
    if rest:
        yield rest


def missing_extra(what: str, extra: str, exc: ImportError) -> UsageError:
    """The one-line error for a format whose optional dependencies are not installed."""
    missing = exc.name.split(".")[0] if exc.name else str(exc)
    return UsageError(
        f"{what} needs packages that are not installed ({missing})",
        hint=f"pip install 'backprop[{extra}]'",
    )


def choose_importer(
    importers: Mapping[str, type[Importer]], path: Path, fmt: str | None
) -> type[Importer]:
    """The importer ``--format`` names, or else the first (by priority) that detects ``path``."""
    names = ", ".join(importers)
    if fmt is not None and fmt not in importers:
        raise UsageError(f"unknown import format '{fmt}'", hint=f"choose one of: {names}")
    if not path.exists():
        raise UsageError(f"{path} does not exist", hint="give the file or folder to import")
    if fmt is not None:
        return importers[fmt]
    for importer in importers.values():
        try:
            if importer.detect(path):
                return importer
        except Exception:  # a plugin's broken detect must not hide the others
            continue
    raise UsageError(
        f"cannot tell what format {path} is in", hint=f"give --format, one of: {names}"
    )
