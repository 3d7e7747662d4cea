"""``SqliteStore``: WAL, a 30 s busy timeout, short ``BEGIN IMMEDIATE`` write transactions,
batched inserts. One connection per process, opened on first use."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from backprop_core import (
    AmbiguousRun,
    CheckpointRecord,
    Event,
    MetricSeries,
    RunFilter,
    RunMark,
    RunNotFound,
    RunRecord,
    SessionRecord,
    Store,
    StoredEvent,
    StoreError,
)
from backprop_core.plugin_kit import (
    RESOLVE_HINT,
    Digest,
    DuplicateRun,
    EventRow,
    MetricColumns,
    MetricLines,
    check_folder_writable,
    check_run_id,
    checkpoint_from_dict,
    coerce_changes,
    digest,
    marks_from_rows,
    run_from_dict,
    screen_batch,
    session_from_dict,
    session_to_dict,
    supersede_cutoffs,
)
from backprop_sqlite.artifact_rows import SqliteArtifacts, add_version, digests_in, record_use
from backprop_sqlite.checkpoint_rows import insert_checkpoints
from backprop_sqlite.connection import DB_NAME, dumps, open_connection, run_ids, store_error
from backprop_sqlite.event_rows import insert_lines, select_events, stored_events
from backprop_sqlite.run_filter import where_clause
from backprop_sqlite.run_rows import BatchRecords, SqliteRunRows
from backprop_sqlite.series_sql import insert_columns, last_visible_value, read_series
from backprop_sqlite.transactions import SqliteTransactions


class SqliteStore(SqliteTransactions, SqliteRunRows, SqliteArtifacts, Store):
    name: ClassVar[str] = "sqlite"

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.path = self.home.root / DB_NAME
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.RLock()
        self._batching = False
        self._records = BatchRecords()

    @classmethod
    def run_ids_in(cls, home: Path) -> set[str] | None:
        return run_ids(Path(home) / DB_NAME)

    @classmethod
    def artifact_digests_in(cls, home: Path) -> set[str] | None:
        return digests_in(Path(home) / DB_NAME)

    # connection ----------------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self._conn = open_connection(self.home, self.path)
            self._pid = os.getpid()
        return self._conn

    def _error(self, exc: Exception, what: str) -> StoreError:
        return store_error(exc, what, self.path)

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def check_writable(self) -> None:
        check_folder_writable(self.home)
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('checked_at', ?)",
                (str(time.time()),),
            )

    # runs ----------------------------------------------------------------------------------
    def create_run(self, run: RunRecord) -> RunRecord:
        check_run_id(run.id)  # validates the id
        try:
            with self._write() as conn:
                self._insert_run(conn, run)
        except sqlite3.IntegrityError as exc:
            raise DuplicateRun(f"a run with id {run.id} already exists") from exc
        return run

    def update_run(self, run_id: str, **changes: Any) -> RunRecord:
        changes = coerce_changes(RunRecord, changes)
        changes.pop("id", None)
        with self._write() as conn:
            run = self._get(conn, run_id)
            for key, value in changes.items():
                setattr(run, key, value)
            self._put(conn, run)
        return run

    def get_run(self, run_id: str) -> RunRecord:
        with self._lock:
            kept = self._kept_run(run_id)
        if kept is not None:
            return kept
        rows = self._read("SELECT record FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise RunNotFound(f"no run with id {run_id}", hint="see: backprop list")
        return run_from_dict(json.loads(rows[0][0]))

    def resolve(self, ref: str) -> RunRecord:
        if not ref:
            raise RunNotFound("no run matches an empty reference", hint=RESOLVE_HINT)
        self._write_records()
        rows = self._read("SELECT record FROM runs WHERE id = ?", (ref,))
        if not rows:
            escaped = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            rows = self._read(
                "SELECT record FROM runs WHERE id LIKE ? ESCAPE '\\' AND substr(id, 1, ?) = ?"
                " ORDER BY created_at DESC, id DESC",
                (escaped + "%", len(ref), ref),
            )
            if not rows:
                rows = self._read(
                    "SELECT record FROM runs WHERE name = ? ORDER BY created_at DESC, id DESC",
                    (ref,),
                )
            if not rows and "-" not in ref:
                rows = self._read(
                    "SELECT record FROM runs WHERE substr(id, -?) = ?"
                    " AND substr(id, -? - 1, 1) = '-' ORDER BY created_at DESC, id DESC",
                    (len(ref), ref, len(ref)),
                )
        if not rows:
            raise RunNotFound(f"no run matches '{ref}'", hint=RESOLVE_HINT)
        if len(rows) > 1:
            raise AmbiguousRun(ref, [json.loads(r[0])["id"] for r in rows])
        return run_from_dict(json.loads(rows[0][0]))

    def list_runs(self, flt: RunFilter | None = None) -> list[RunRecord]:
        self._write_records()
        flt = flt or RunFilter()
        where, params = where_clause(flt)
        sql = f"SELECT record FROM runs{where} ORDER BY created_at DESC, id DESC"
        if flt.limit is not None or flt.offset:
            sql += " LIMIT ? OFFSET ?"
            params += [-1 if flt.limit is None else flt.limit, flt.offset]
        return [run_from_dict(json.loads(r[0])) for r in self._read(sql, params)]

    def count_runs(self, flt: RunFilter | None = None) -> int:
        self._write_records()
        where, params = where_clause(flt or RunFilter())
        return int(self._read(f"SELECT count(*) FROM runs{where}", params)[0][0])

    def delete_run(self, run_id: str) -> None:
        with self._write() as conn:
            self._get(conn, run_id)
            self._records.forget(run_id)
            for table in ("chunks", "tiles"):
                conn.execute(
                    f"DELETE FROM {table} WHERE series IN (SELECT id FROM series WHERE run_id = ?)",
                    (run_id,),
                )
            for table in ("series", "events", "checkpoints", "sessions", "artifact_uses"):
                conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    # sessions ------------------------------------------------------------------------------
    def add_session(self, session: SessionRecord) -> None:
        with self._write() as conn:
            run = self._get(conn, session.run_id)
            try:
                conn.execute(
                    "INSERT INTO sessions (run_id, number, record) VALUES (?,?,?)",
                    (session.run_id, session.number, dumps(session_to_dict(session))),
                )
            except sqlite3.IntegrityError as exc:
                raise StoreError(
                    f"run {session.run_id} already has a session {session.number}"
                ) from exc
            run.session_count += 1
            self._put(conn, run)

    def update_session(self, run_id: str, number: int, **changes: Any) -> SessionRecord:
        changes = coerce_changes(SessionRecord, changes)
        changes.pop("run_id", None)
        changes.pop("number", None)
        with self._write() as conn:
            row = conn.execute(
                "SELECT record FROM sessions WHERE run_id = ? AND number = ?", (run_id, number)
            ).fetchone()
            if row is None:
                raise RunNotFound(f"run {run_id} has no session {number}")
            session = session_from_dict(json.loads(row[0]))
            for key, value in changes.items():
                setattr(session, key, value)
            conn.execute(
                "UPDATE sessions SET record = ? WHERE run_id = ? AND number = ?",
                (dumps(session_to_dict(session)), run_id, number),
            )
            if "active_seconds" in changes:
                run = self._get(conn, run_id)
                rows = conn.execute(
                    "SELECT record FROM sessions WHERE run_id = ?", (run_id,)
                ).fetchall()
                run.active_seconds = sum(
                    float(json.loads(r[0]).get("active_seconds") or 0.0) for r in rows
                )
                self._put(conn, run)
        return session

    def sessions(self, run_id: str) -> list[SessionRecord]:
        rows = self._read("SELECT record FROM sessions WHERE run_id = ? ORDER BY number", (run_id,))
        return [session_from_dict(json.loads(r[0])) for r in rows]

    def run_marks(self, origin: str) -> list[RunMark]:
        # The stored text as it is: no record decoded, one query per table.
        self._write_records()
        where, params = where_clause(RunFilter(origin=origin))
        runs = self._read(
            f"SELECT id, status, event_seq, record FROM runs{where}"
            " ORDER BY created_at DESC, id DESC",
            params,
        )
        sessions = self._read(
            f"SELECT run_id, number, record FROM sessions WHERE run_id IN"
            f" (SELECT id FROM runs{where}) ORDER BY run_id, number",
            params,
        )
        return marks_from_rows(runs, sessions)

    def beat(self, run_id: str, number: int, at: float) -> None:
        # One statement: SQLite edits the stored JSON in place (the time as text keeps every
        # digit), no Python round trip of the record.
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE sessions SET record = json_set(record, '$.heartbeat_at', json(?))"
                " WHERE run_id = ? AND number = ?",
                (repr(float(at)), run_id, number),
            )
            if cur.rowcount == 0:
                raise RunNotFound(f"run {run_id} has no session {number}")

    # events, metrics, checkpoints ------------------------------------------------------------
    def append_events(self, run_id: str, events: Sequence[Event]) -> None:
        self.append_batch(run_id, events)

    def append_batch(
        self, run_id: str, items: Sequence[Event | MetricLines | MetricColumns]
    ) -> None:
        if not items:
            return
        items = screen_batch(items)
        found = digest(run_id, items)
        with self._write() as conn:
            run = self._get(conn, run_id)
            base = conn.execute("SELECT event_seq FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
            rows: list[tuple[str, int, str, float, int | None, int | None, str]] = []
            seq = base
            for item in items:
                if isinstance(item, MetricLines):
                    if not insert_lines(conn, run_id, seq, item):
                        n, session = len(item), item.session
                        rows.extend(
                            [
                                (run_id, i, "metrics", t, step, session, text)
                                for i, t, step, text in zip(
                                    range(seq + 1, seq + 1 + n), item.times, item.steps, item.texts
                                )
                            ]
                        )
                    seq += len(item)
                elif isinstance(item, MetricColumns):  # a run of printed lines: a few events
                    t, session = item.time, item.session
                    for step, text in item.payload_texts():
                        seq += 1
                        rows.append((run_id, seq, "metrics", t, step, session, text))
                else:
                    seq += 1
                    payload = dumps(dict(item.payload))
                    rows.append(
                        (run_id, seq, item.kind, item.time, item.step, item.session, payload)
                    )
            conn.executemany(
                "INSERT INTO events (run_id, seq, kind, time, step, session, payload)"
                " VALUES (?,?,?,?,?,?,?)",
                rows,
            )
            if found.columns:
                insert_columns(conn, run_id, found.columns, found.segments)
            found.apply_run(run)
            if found.checkpoints:
                run.checkpoint_count = insert_checkpoints(conn, run, found.checkpoints)
            for version in found.artifacts:
                add_version(conn, version)
            for use in found.uses:
                record_use(conn, use)
            if found.session_steps:
                self._fold_sessions(conn, run, found)
            self._put(conn, run)
            conn.execute("UPDATE runs SET event_seq = ? WHERE id = ?", (seq, run_id))

    def _fold_sessions(self, conn: sqlite3.Connection, run: RunRecord, found: Digest) -> None:
        """The sessions' steps; after a session's first step, the run's last values anew."""
        rows = conn.execute(
            "SELECT number, record FROM sessions WHERE run_id = ?", (run.id,)
        ).fetchall()
        sessions = {n: session_from_dict(json.loads(text)) for n, text in rows}
        changed, started = found.apply_sessions(sessions)
        conn.executemany(
            "UPDATE sessions SET record = ? WHERE run_id = ? AND number = ?",
            [(dumps(session_to_dict(s)), run.id, s.number) for s in changed],
        )
        if started:
            cutoffs = supersede_cutoffs(sessions.values())
            found.refresh_last(run, lambda key: last_visible_value(conn, run.id, key, cutoffs))

    def event_rows(
        self, run_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[EventRow]:
        return self._read(*select_events(run_id, None, after_seq, limit))

    def events(
        self,
        run_id: str,
        kinds: Sequence[str] | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        return stored_events(run_id, self._read(*select_events(run_id, kinds, after_seq, limit)))

    def last_event_seq(self, run_id: str) -> int:
        rows = self._read("SELECT event_seq FROM runs WHERE id = ?", (run_id,))
        return int(rows[0][0]) if rows else 0

    def checkpoints(self, run_id: str) -> list[CheckpointRecord]:
        rows = self._read("SELECT record FROM checkpoints WHERE run_id = ? ORDER BY n", (run_id,))
        return [checkpoint_from_dict(json.loads(r[0])) for r in rows]

    def delete_checkpoints(self, run_id: str, paths: Sequence[str]) -> None:
        if not paths:
            return
        with self._write() as conn:
            run = self._get(conn, run_id)
            conn.executemany(
                "DELETE FROM checkpoints WHERE run_id = ? AND path = ?",
                [(run_id, p) for p in paths],
            )
            run.checkpoint_count = conn.execute(
                "SELECT count(*) FROM checkpoints WHERE run_id = ?", (run_id,)
            ).fetchone()[0]
            self._put(conn, run)

    def metric_keys(self, run_id: str) -> list[str]:
        rows = self._read("SELECT key FROM series WHERE run_id = ? ORDER BY key", (run_id,))
        return [r[0] for r in rows]

    def metric_series(
        self,
        run_id: str,
        key: str,
        max_points: int | None = None,
        after_step: int | None = None,
        all_sessions: bool = False,
    ) -> MetricSeries:
        with self._lock:
            try:
                return read_series(self.conn, run_id, key, max_points, after_step, all_sessions)
            except sqlite3.Error as exc:
                raise self._error(exc, "read") from exc
