"""Rows of the ``runs`` table: each run's record as JSON with the columns queries filter on.

Outside a ``Store.batch`` every write reads the record and writes it back. Inside one, a run's
record is read once and written once: writes change a copy kept in memory (``BatchRecords``),
which goes to its row when the batch ends or before a query reads the ``runs`` table. A pull
writes a run four to six times in a row (created, a session, events, its final record), and
decoding and encoding the record each time cost more than the statements themselves. Writing
it, only the columns that changed are set: each indexed column set costs its index an update.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, NamedTuple

from backprop_core import RunNotFound, RunRecord
from backprop_core.plugin_kit import run_copy, run_from_dict, run_to_dict
from backprop_sqlite.connection import dumps

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

#: A row's columns besides its id, in this order, its record last.
Row = tuple["str | None", str, float, str, str, "str | None", str]
_COLUMNS = ("name", "status", "created_at", "tags", "params", "origin", "record")
_UPDATE_ALL = f"UPDATE runs SET {', '.join(f'{c} = ?' for c in _COLUMNS)} WHERE id = ?"
_UPDATE_RECORD = "UPDATE runs SET record = ? WHERE id = ?"


def run_columns(run: RunRecord) -> Row:
    """The columns of ``run``'s row besides its id."""
    return (
        run.name,
        run.status.value,
        run.created_at,
        dumps(run.tags),
        dumps(run.params),
        run.origin,
        dumps(run_to_dict(run)),
    )


class Kept(NamedTuple):
    """A run as a batch keeps it: its record now, its row as stored (``None``: not known),
    whether they agree."""

    record: RunRecord
    row: Row | None
    written: bool


class BatchRecords:
    """The run records a batch has read or written, as they now are in its transaction.

    Kept records are never handed out or changed in place: callers get copies, and a write
    replaces the record. Each write inside the batch opens an undo layer (its savepoint): if
    the write fails, what it kept is undone with it, so a record changed by a failed write is
    never written by a later one."""

    def __init__(self) -> None:
        self.kept: dict[str, Kept] = {}
        self._layers: list[dict[str, Kept | None]] = []

    def get(self, run_id: str) -> RunRecord | None:
        kept = self.kept.get(run_id)
        return None if kept is None else run_copy(kept.record)

    def read(self, run: RunRecord, row: Row) -> None:
        """Keep a copy of ``run``, as its row (``row``) holds it."""
        self._set(run.id, Kept(run_copy(run), row, True))

    def put(self, run: RunRecord) -> None:
        """Keep a copy of ``run``, changed since its row was written."""
        before = self.kept.get(run.id)
        self._set(run.id, Kept(run_copy(run), None if before is None else before.row, False))

    def written(self, run_id: str, row: Row) -> None:
        """The run's row now holds its kept record, as ``row``."""
        self._set(run_id, self.kept[run_id]._replace(row=row, written=True))

    def forget(self, run_id: str) -> None:
        if run_id in self.kept:
            self._set(run_id, None)

    def unwritten(self) -> list[str]:
        return [run_id for run_id, kept in self.kept.items() if not kept.written]

    def _set(self, run_id: str, kept: Kept | None) -> None:
        if self._layers:
            self._layers[-1].setdefault(run_id, self.kept.get(run_id))
        if kept is None:
            del self.kept[run_id]
        else:
            self.kept[run_id] = kept

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
        for run_id, before in self._layers.pop().items():
            if before is None:
                self.kept.pop(run_id, None)
            else:
                self.kept[run_id] = before

    def clear(self) -> None:
        self.kept.clear()
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
        row = run_columns(run)
        conn.execute(
            "INSERT INTO runs (name, status, created_at, tags, params, origin, record, id)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (*row, run.id),
        )
        if self._records.active:
            self._records.read(run, row)

    def _get(self, conn: sqlite3.Connection, run_id: str) -> RunRecord:
        """The run's record, to change and ``_put`` back."""
        records = self._records
        if not records.active:
            row = conn.execute("SELECT record FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise RunNotFound(f"no run with id {run_id}", hint="see: backprop list")
            return run_from_dict(json.loads(row[0]))
        kept = records.get(run_id)
        if kept is not None:
            return kept
        stored = conn.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        if stored is None:
            raise RunNotFound(f"no run with id {run_id}", hint="see: backprop list")
        run = run_from_dict(json.loads(stored[-1]))
        records.read(run, tuple(stored))
        return run

    def _put(self, conn: sqlite3.Connection, run: RunRecord) -> None:
        if self._records.active:
            self._records.put(run)
        else:
            conn.execute(_UPDATE_ALL, (*run_columns(run), run.id))

    def _kept_run(self, run_id: str) -> RunRecord | None:
        """The record the current batch holds for the run, if it holds one."""
        return self._records.get(run_id)

    def _write_records(self) -> None:
        """Write the records the current batch changed to their rows (before a query reads
        the ``runs`` table, and before the batch commits)."""
        records = self._records
        ids = records.unwritten()
        if not ids:
            return
        with self._write() as conn:
            for run_id in ids:
                kept = records.kept[run_id]
                row = run_columns(kept.record)
                if kept.row is not None and row[:-1] == kept.row[:-1]:  # only the record changed
                    conn.execute(_UPDATE_RECORD, (row[-1], run_id))
                else:
                    conn.execute(_UPDATE_ALL, (*row, run_id))
                records.written(run_id, row)
