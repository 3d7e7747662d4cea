"""``PostgresStore``: a team's runs in one PostgreSQL database (``store: postgresql://…``).

One connection per process, opened on first use, in autocommit mode with short explicit write
transactions (one per call). Every write to a run first locks the run's row, so writers of one
run take turns and writers of different runs never wait on each other. A connection the server
dropped (a restart, the network) is opened again on the next call; a read retries once on the
new connection, a write reports ``StoreUnreachable`` (the event writer keeps the batch and
tries again).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from backprop_core import (
    CheckpointRecord,
    Event,
    MetricSeries,
    RunNotFound,
    RunRecord,
    SessionRecord,
    Store,
    StoredEvent,
    StoreError,
    StoreUnreachable,
    UsageError,
)
from backprop_core.plugin_kit import (
    DuplicateRun,
    MetricColumns,
    MetricLines,
    check_folder_writable,
    check_run_id,
    checkpoint_from_dict,
    coerce_changes,
    digest,
    run_from_dict,
    run_to_dict,
    screen_batch,
    session_to_dict,
)
from backprop_postgres.artifact_rows import PostgresArtifacts, add_versions, record_use
from backprop_postgres.connection import check_driver, driver
from backprop_postgres.database import Database
from backprop_postgres.event_rows import InDoubt, event_rows, fold_sessions, stored_events
from backprop_postgres.location import SCHEMES, across_databases, check_url
from backprop_postgres.queries import RunQueries
from backprop_postgres.rows import dumps, insert_checkpoints, run_ids, session_of
from backprop_postgres.series_pg import (
    clean_text,
    copy_events,
    insert_columns,
    read_series,
)

if TYPE_CHECKING:
    import psycopg


class PostgresStore(RunQueries, PostgresArtifacts, Store):
    name: ClassVar[str] = "postgres"
    schemes: ClassVar[tuple[str, ...]] = SCHEMES

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        if self.location is None:
            raise UsageError(
                "the postgres store is chosen by its URL",
                hint="set store (or BACKPROP_STORE, or --store) to postgresql://USER@HOST/DB",
            )
        self.url = check_url(self.location)
        self.db = Database(self.url, self.home.root)
        self._doubt = InDoubt()

    @classmethod
    def check_location(cls, location: str) -> None:
        check_url(location)
        check_driver()  # a missing driver is said before anything else is looked at

    @classmethod
    def run_ids_in(cls, home: Path) -> set[str] | None:
        return across_databases(Path(home), cls.location, run_ids)

    def close(self) -> None:
        self.db.close()

    def check_writable(self) -> None:
        check_folder_writable(self.home)
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('checked_at', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(time.time()),),
            )

    # runs ----------------------------------------------------------------------------------
    def create_run(self, run: RunRecord) -> RunRecord:
        check_run_id(run.id)
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO runs (id, name, status, created_at, tags, params, origin,"
                    " record) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    (run.id, *self._columns(run), dumps(run_to_dict(run))),
                )
        except driver().errors.UniqueViolation as exc:
            raise DuplicateRun(f"a run with id {run.id} already exists") from exc
        return run

    def _get(self, conn: psycopg.Connection, run_id: str, lock: bool = True) -> RunRecord:
        sql = "SELECT record FROM runs WHERE id = %s" + (" FOR UPDATE" if lock else "")
        row = conn.execute(sql, (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(f"no run with id {run_id}", hint="see: backprop list")
        return run_from_dict(json.loads(row[0]))

    @staticmethod
    def _columns(run: RunRecord) -> tuple[str | None, str, float, str, str, str | None]:
        """The columns besides the record that queries filter and sort on."""
        name = None if run.name is None else clean_text(run.name)
        origin = None if run.origin is None else clean_text(run.origin)
        return (
            name,
            run.status.value,
            run.created_at,
            dumps(run.tags),
            dumps(run.params),
            origin,
        )

    def _put(
        self,
        conn: psycopg.Connection,
        run: RunRecord,
        event_seq: int | None = None,
        batch: str | None = None,
    ) -> None:
        conn.execute(
            "UPDATE runs SET name = %s, status = %s, created_at = %s, tags = %s, params = %s,"
            " origin = %s, record = %s, event_seq = coalesce(%s, event_seq),"
            " last_batch = coalesce(%s, last_batch) WHERE id = %s",
            (*self._columns(run), dumps(run_to_dict(run)), event_seq, batch, run.id),
        )

    def update_run(self, run_id: str, **changes: Any) -> RunRecord:
        changes = coerce_changes(RunRecord, changes)
        changes.pop("id", None)
        with self.db.write() as conn:
            run = self._get(conn, run_id)
            for key, value in changes.items():
                setattr(run, key, value)
            self._put(conn, run)
        return run

    def get_run(self, run_id: str) -> RunRecord:
        rows = self.db.read("SELECT record FROM runs WHERE id = %s", (run_id,))
        if not rows:
            raise RunNotFound(f"no run with id {run_id}", hint="see: backprop list")
        return run_from_dict(json.loads(rows[0][0]))

    def delete_run(self, run_id: str) -> None:
        with self.db.write() as conn:
            self._get(conn, run_id)
            for table in ("chunks", "tiles"):
                conn.execute(
                    f"DELETE FROM {table} WHERE series IN"
                    " (SELECT id FROM series WHERE run_id = %s)",
                    (run_id,),
                )
            for table in ("series", "events", "checkpoints", "sessions", "artifact_uses"):
                conn.execute(f"DELETE FROM {table} WHERE run_id = %s", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = %s", (run_id,))

    # sessions ------------------------------------------------------------------------------
    def add_session(self, session: SessionRecord) -> None:
        try:
            with self.db.write() as conn:
                run = self._get(conn, session.run_id)
                conn.execute(
                    "INSERT INTO sessions (run_id, number, heartbeat_at, record)"
                    " VALUES (%s, %s, %s, %s)",
                    (
                        session.run_id,
                        session.number,
                        session.heartbeat_at,
                        dumps(session_to_dict(session)),
                    ),
                )
                run.session_count += 1
                self._put(conn, run)
        except driver().errors.UniqueViolation as exc:
            raise StoreError(
                f"run {session.run_id} already has a session {session.number}"
            ) from exc

    def update_session(self, run_id: str, number: int, **changes: Any) -> SessionRecord:
        changes = coerce_changes(SessionRecord, changes)
        changes.pop("run_id", None)
        changes.pop("number", None)
        with self.db.write() as conn:
            # The run's row first, as every write does: writers never wait on each other in
            # opposite orders.
            run = self._get(conn, run_id) if "active_seconds" in changes else None
            if run is None:
                conn.execute("SELECT 1 FROM runs WHERE id = %s FOR UPDATE", (run_id,))
            row = conn.execute(
                "SELECT record, heartbeat_at FROM sessions WHERE run_id = %s AND number = %s"
                " FOR UPDATE",
                (run_id, number),
            ).fetchone()
            if row is None:
                raise RunNotFound(f"run {run_id} has no session {number}")
            session = session_of(*row)
            for key, value in changes.items():
                setattr(session, key, value)
            conn.execute(
                "UPDATE sessions SET record = %s, heartbeat_at = %s"
                " WHERE run_id = %s AND number = %s",
                (dumps(session_to_dict(session)), session.heartbeat_at, run_id, number),
            )
            if run is not None:
                rows = conn.execute(
                    "SELECT record, heartbeat_at FROM sessions WHERE run_id = %s", (run_id,)
                ).fetchall()
                run.active_seconds = sum(float(session_of(*r).active_seconds or 0.0) for r in rows)
                self._put(conn, run)
        return session

    def sessions(self, run_id: str) -> list[SessionRecord]:
        rows = self.db.read(
            "SELECT record, heartbeat_at FROM sessions WHERE run_id = %s ORDER BY number",
            (run_id,),
        )
        return [session_of(*r) for r in rows]

    def beat(self, run_id: str, number: int, at: float) -> None:
        # One small UPDATE of its own column, no round trip of the record.
        with self.db.write() as conn:
            cur = conn.execute(
                "UPDATE sessions SET heartbeat_at = %s WHERE run_id = %s AND number = %s",
                (float(at), run_id, number),
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
        given = list(items)
        token = os.urandom(8).hex()
        items = screen_batch(items)
        found = digest(run_id, items)
        try:
            with self.db.write() as conn:
                row = conn.execute(
                    "SELECT record, event_seq, last_batch FROM runs WHERE id = %s FOR UPDATE",
                    (run_id,),
                ).fetchone()
                if row is None:
                    raise RunNotFound(f"no run with id {run_id}", hint="see: backprop list")
                run, base = run_from_dict(json.loads(row[0])), row[1]
                done = self._doubt.committed(run_id, given, row[2])
                if done:
                    if done == len(given):
                        return
                    items = screen_batch(given[done:])
                    found = digest(run_id, items)
                rows, seq = event_rows(run_id, base, items)
                copy_events(conn, rows)
                if found.columns:
                    insert_columns(conn, run_id, found.columns, found.segments)
                found.apply_run(run)
                if found.checkpoints:
                    run.checkpoint_count = insert_checkpoints(conn, run, found.checkpoints)
                add_versions(conn, found.artifacts)
                for use in found.uses:
                    record_use(conn, use)
                if found.session_steps:
                    fold_sessions(conn, run, found)
                self._put(conn, run, event_seq=seq, batch=token)
        except StoreUnreachable:
            if self.db.in_doubt:
                self._doubt.remember(run_id, token, given)
            raise

    def events(
        self,
        run_id: str,
        kinds: Sequence[str] | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        if kinds is not None and not kinds:
            return []
        sql = "SELECT seq, kind, time, step, session, payload FROM events"
        sql += " WHERE run_id = %s AND seq > %s"
        params: list[Any] = [run_id, after_seq]
        if kinds is not None:
            sql += " AND kind = ANY(%s)"
            params.append([clean_text(k) for k in kinds])
        sql += " ORDER BY seq LIMIT %s"
        params.append(limit)
        return stored_events(run_id, self.db.read(sql, params))

    def checkpoints(self, run_id: str) -> list[CheckpointRecord]:
        rows = self.db.read(
            "SELECT record FROM checkpoints WHERE run_id = %s ORDER BY n", (run_id,)
        )
        return [checkpoint_from_dict(json.loads(r[0])) for r in rows]

    def delete_checkpoints(self, run_id: str, paths: Sequence[str]) -> None:
        if not paths:
            return
        with self.db.write() as conn:
            run = self._get(conn, run_id)
            conn.execute(
                "DELETE FROM checkpoints WHERE run_id = %s AND path = ANY(%s)",
                (run_id, [clean_text(p) for p in paths]),
            )
            (run.checkpoint_count,) = conn.execute(
                "SELECT count(*) FROM checkpoints WHERE run_id = %s", (run_id,)
            ).fetchone() or (0,)
            self._put(conn, run)

    def metric_keys(self, run_id: str) -> list[str]:
        rows = self.db.read("SELECT key FROM series WHERE run_id = %s ORDER BY key", (run_id,))
        return [r[0] for r in rows]

    def metric_series(
        self,
        run_id: str,
        key: str,
        max_points: int | None = None,
        after_step: int | None = None,
        all_sessions: bool = False,
    ) -> MetricSeries:
        def read(conn: psycopg.Connection) -> MetricSeries:
            # One snapshot for the several queries a series takes.
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                return read_series(conn, run_id, key, max_points, after_step, all_sessions)
            finally:
                self.db.rollback(conn)

        return self.db.reading(read)
