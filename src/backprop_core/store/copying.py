"""Copying runs from one store to another (``backprop store copy``), through the ``Store``
contract only, so any two stores work: SQLite or JSON homes, PostgreSQL, a plugin's.

A run is copied as its record, its sessions, and its events in order, from which the
destination derives metric points and checkpoint records the way every store does (what
backprop saw of each checkpoint file travels with its announcement); checkpoint records the
source no longer has (``gc`` forgot them) are then forgotten, and the run and session records
are set to exactly the source's. Until that last step the run carries the tag ``COPYING``, so
a copy that was interrupted is found and done again. Runs already at the destination are
compared and skipped when they match. At the end every run's counts are checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from backprop_core.errors import RunNotFound
from backprop_core.events.checkpoint_keys import checkpoint_key
from backprop_core.store.contract import Store
from backprop_core.store.records import (
    RunRecord,
    SessionRecord,
    checkpoint_to_dict,
    json_safe,
    run_to_dict,
    session_to_dict,
)

#: The tag a run carries at the destination while it is being copied.
COPYING = "backprop.copying"
PAGE = 5_000  # events read and appended at a time


@dataclass(frozen=True)
class Counts:
    """What a run holds, as ``store copy`` checks it."""

    sessions: int
    events: int
    checkpoints: int
    points: int

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.sessions + other.sessions,
            self.events + other.events,
            self.checkpoints + other.checkpoints,
            self.points + other.points,
        )


@dataclass
class CopyReport:
    """What ``store copy`` did with each run (by id) and the counts it found on each side."""

    copied: list[str] = field(default_factory=list)
    redone: list[str] = field(default_factory=list)  # interrupted copies, done again
    already: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    differing: list[str] = field(default_factory=list)  # left alone (no --replace)
    source: Counts = Counts(0, 0, 0, 0)
    destination: Counts = Counts(0, 0, 0, 0)
    mismatched: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "copied": self.copied,
            "redone": self.redone,
            "already_there": self.already,
            "replaced": self.replaced,
            "differing": self.differing,
            "mismatched": self.mismatched,
            "source": vars(self.source),
            "destination": vars(self.destination),
        }


def event_count(store: Store, run_id: str) -> int:
    """How many events a run has (their numbers run from 1), in a few indexed reads."""
    high = 1
    while store.events(run_id, after_seq=high - 1, limit=1):
        high *= 2
    low = high // 2  # event ``low`` exists (or low == 0); event ``high`` does not
    while high - low > 1:
        mid = (low + high) // 2
        if store.events(run_id, after_seq=mid - 1, limit=1):
            low = mid
        else:
            high = mid
    return low


def counts(store: Store, run_id: str) -> Counts:
    points = sum(
        store.metric_series(run_id, key, max_points=2_000, all_sessions=True).total
        for key in store.metric_keys(run_id)
    )
    return Counts(
        len(store.sessions(run_id)),
        event_count(store, run_id),
        len(store.checkpoints(run_id)),
        points,
    )


def _same_run(src: Store, dst: Store, run: RunRecord) -> bool:
    theirs = dst.get_run(run.id)
    if json_safe(run_to_dict(theirs)) != json_safe(run_to_dict(run)):
        return False
    if [json_safe(session_to_dict(s)) for s in src.sessions(run.id)] != [
        json_safe(session_to_dict(s)) for s in dst.sessions(run.id)
    ]:
        return False
    return counts(src, run.id) == counts(dst, run.id)


def copy_run(src: Store, dst: Store, run: RunRecord) -> None:
    """Copy one run that is not at the destination (see the module docstring)."""
    dst.create_run(replace(run, tags={**run.tags, COPYING: "1"}, session_count=0))
    sessions = src.sessions(run.id)
    for session in sessions:
        dst.add_session(session)
    checkpoints = src.checkpoints(run.id)
    files = {checkpoint_key(c.path, run.cwd): c.file for c in checkpoints if c.file}
    after = 0
    while True:
        page = src.events(run.id, after_seq=after, limit=PAGE)
        if not page:
            break
        batch = []
        for stored in page:
            event = stored.event
            if event.kind == "checkpoint_saved" and files:
                path = event.payload.get("path")
                if isinstance(path, str) and path:
                    event = replace(event, file=files.get(checkpoint_key(path, run.cwd)))
            batch.append(event)
        dst.append_events(run.id, batch)
        after = page[-1].seq
    kept = {c.path for c in checkpoints}
    gone = [c.path for c in dst.checkpoints(run.id) if c.path not in kept]
    dst.delete_checkpoints(run.id, gone)
    for session in sessions:
        dst.update_session(run.id, session.number, **_fields(session, SessionRecord))
    dst.update_run(run.id, **_fields(run, RunRecord))


def _fields(record: Any, cls: type) -> dict[str, Any]:
    skip = {"id", "run_id", "number"}
    return {
        name: getattr(record, name)
        for name in cls.__dataclass_fields__  # type: ignore[attr-defined]
        if name not in skip
    }


def copy_runs(
    src: Store,
    dst: Store,
    *,
    replace_differing: bool = False,
    say: Callable[[str], None] = lambda text: None,
) -> CopyReport:
    """Copy every run of ``src`` to ``dst``, oldest first; then check the counts."""
    report = CopyReport()
    runs = list(reversed(src.list_runs()))
    for n, run in enumerate(runs, start=1):
        try:
            theirs: RunRecord | None = dst.get_run(run.id)
        except RunNotFound:
            theirs = None
        if theirs is not None:
            if COPYING in theirs.tags:
                dst.delete_run(run.id)
                report.redone.append(run.id)
            elif _same_run(src, dst, run):
                report.already.append(run.id)
                continue
            elif replace_differing:
                dst.delete_run(run.id)
                report.replaced.append(run.id)
            else:
                report.differing.append(run.id)
                continue
        copy_run(src, dst, run)
        if theirs is None:
            report.copied.append(run.id)
        say(f"copied {run.id} ({n}/{len(runs)})")
    for run in runs:
        if run.id in report.differing:
            continue
        mine, theirs_counts = counts(src, run.id), counts(dst, run.id)
        report.source += mine
        report.destination += theirs_counts
        if mine != theirs_counts or checkpoint_list(src, run.id) != checkpoint_list(dst, run.id):
            report.mismatched.append(run.id)
    return report


def checkpoint_list(store: Store, run_id: str) -> list[Any]:
    return [json_safe(checkpoint_to_dict(c)) for c in store.checkpoints(run_id)]
