"""Rows of the ``runs`` table: each run's record as JSON with the columns queries filter on.

Outside a ``Store.batch`` every write reads the record and writes it back. Inside one, a run's
record is read once and written once: writes change a copy kept in memory (``BatchRecords``),
which goes to its row when the batch ends or before a query reads the ``runs`` table. A pull
writes a run four to six times in a row (created, a session, events, its final record), and
decoding and encoding the record each time cost more than the statements themselves.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

from backprop_core import RunNotFound, RunRecord
from backprop_core.plugin_kit import run_copy, run_from_dict, run_to_dict
from backprop_sqlite.connection import dumps

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

_UPDATE = (
    "UPDATE runs SET name = ?, status = ?, created_at = ?, tags = ?, params = ?, origin = ?,"
    " record = ? WHERE id = ?"
)
#: An entry of an undo layer: the record kept before (``None``: none), and whether it was
#: still to be written.
_Before = tuple["RunRecord | None", bool]


def run_columns(run: RunRecord) -> tuple[str | None, str, float, str, str, str | None, str]:
    """The columns of ``run``'s row besides its id, its record last."""
    return (
        run.name,
        run.status.value,
        run.created_at,
        dumps(run.tags),
        dumps(run.params),
        run.origin,
        dumps(run_to_dict(run)),
    )


class BatchRecords:
    """The run records a batch has read or written, as they now are in its transaction.

    Kept records are never handed out or changed in place: callers get copies, and a write
    replaces the record. Each write inside the batch opens an undo layer (its savepoint): if
    the write fails, what it kept is undone with it, so a record changed by a failed write is
    never written by a later one."""

    def __init__(self) -> None:
        self.records: dict[str, RunRecord] = {}
        self.unwritten: set[str] = set()  # ids whose kept record is newer than their row
        self._layers: list[dict[str, _Before]] = []

    def get(self, run_id: str) -> RunRecord | None:
        record = self.records.get(run_id)
        return None if record is None else run_copy(record)

    def keep(self, run: RunRecord, *, written: bool) -> None:
        """Keep a copy of ``run`` (``written``: its row already holds it)."""
        self._before(run.id)
        self.records[run.id] = run_copy(run)
        if written:
            self.unwritten.discard(run.id)
        else:
            self.unwritten.add(run.id)

    def written(self, run_id: str) -> None:
        """The run's row now holds its kept record."""
        self._before(run_id)
        self.unwritten.discard(run_id)

    def forget(self, run_id: str) -> None:
        self._before(run_id)
        self.records.pop(run_id, None)
        self.unwritten.discard(run_id)

    def _before(self, run_id: str) -> None:
        if self._layers:
            self._layers[-1].setdefault(
                run_id, (self.records.get(run_id), run_id in self.unwritten)
            )

    # undo layers, one per write (savepoint) ----------------------------------------------------
    def begin(self) -> None:
        self._layers.append({})

    def commit(self) -> None:
        if not self._layers:  # cleared meanwhile: the transaction ended
            return
        layer = self._layers.pop()
        if self._layers:  # a write inside a write: the outer one may still be undone
            outer = self._layers[-1]
            for run_id, before in layer.items():
                outer.setdefault(run_id, before)

    def undo(self) -> None:
        if not self._layers:
            return
        for run_id, (record, unwritten) in self._layers.pop().items():
            if record is None:
                self.records.pop(run_id, None)
            else:
                self.records[run_id] = record
            if unwritten:
                self.unwritten.add(run_id)
            else:
                self.unwritten.discard(run_id)

    def clear(self) -> None:
        self.records.clear()
        self.unwritten.clear()
        self._layers.clear()

    @property
    def active(self) -> bool:
        """Whether a write inside a batch is being made (records are then kept)."""
        return bool(self._layers)


class SqliteRunRows:
    """Reading and writing run records for ``SqliteStore``'s writes."""

    _records: BatchRecords

    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def _insert_run(self, conn: sqlite3.Connection, run: RunRecord) -> None:
        conn.execute(
            "INSERT INTO runs (name, status, created_at, tags, params, origin, record, id)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (*run_columns(run), run.id),
        )
        if self._records.active:
            self._records.keep(run, written=True)

    def _get(self, conn: sqlite3.Connection, run_id: str) -> RunRecord:
        """The run's record, to change and ``_put`` back."""
        records = self._records
        if records.active:
            kept = records.get(run_id)
            if kept is not None:
                return kept
        row = conn.execute("SELECT record FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(f"no run with id {run_id}", hint="see: backprop list")
        run = run_from_dict(json.loads(row[0]))
        if records.active:
            records.keep(run, written=True)
        return run

    def _put(self, conn: sqlite3.Connection, run: RunRecord) -> None:
        if self._records.active:
            self._records.keep(run, written=False)
        else:
            conn.execute(_UPDATE, (*run_columns(run), run.id))

    def _kept_run(self, run_id: str) -> RunRecord | None:
        """The record the current batch holds for the run, if it holds one."""
        return self._records.get(run_id)

    def _write_records(self) -> None:
        """Write the records the current batch changed to their rows (before a query reads
        the ``runs`` table, and before the batch commits)."""
        records = self._records
        if not records.unwritten:
            return
        with self._write() as conn:
            ids = sorted(records.unwritten)
            rows = [(*run_columns(records.records[run_id]), run_id) for run_id in ids]
            conn.executemany(_UPDATE, rows)
            for run_id in ids:
                records.written(run_id)
