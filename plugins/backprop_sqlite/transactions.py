"""Transactions of ``SqliteStore``: one per write, or one for a whole ``Store.batch`` with a
savepoint per write, so that a write that fails undoes only itself (together with what it
changed of the run records the batch keeps in memory, ``run_rows.BatchRecords``)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from backprop_core import StoreError
from backprop_sqlite.run_rows import BatchRecords


class SqliteTransactions:
    """Writing and reading through ``SqliteStore``'s connection, under its lock."""

    _lock: threading.RLock
    _batching: bool
    _records: BatchRecords

    if TYPE_CHECKING:

        @property
        def conn(self) -> sqlite3.Connection: ...

        def _error(self, exc: Exception, what: str) -> StoreError: ...

        def _write_records(self) -> None: ...

    @contextmanager
    def batch(self) -> Iterator[None]:
        with self._lock:  # other threads' writes must not join this transaction
            if self._batching:
                yield
                return
            with self._transaction(self.conn):
                self._batching = True
                try:
                    yield
                    self._write_records()
                finally:
                    self._batching = False
                    self._records.clear()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self.conn
            if self._batching and conn.in_transaction:
                with self._savepoint(conn):
                    yield conn
                return
            if self._batching:
                # SQLite ended the batch's transaction after an error, and with it what the
                # batch had written: what the batch kept in memory goes too.
                self._records.clear()
            with self._transaction(conn):
                yield conn

    @contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        """One transaction: committed whole, or rolled back."""
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc, "write") from exc
        try:
            yield
            conn.execute("COMMIT")
        except BaseException as exc:
            # SQLite has already rolled back after some errors (a full disk among them).
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
                raise self._error(exc, "write") from exc
            raise

    @contextmanager
    def _savepoint(self, conn: sqlite3.Connection) -> Iterator[None]:
        """One write inside a batch: whole, or undone alone."""
        conn.execute("SAVEPOINT write")
        self._records.begin()
        try:
            yield
            conn.execute("RELEASE write")
            self._records.commit()
        except BaseException as exc:
            self._records.undo()
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK TO write")
                    conn.execute("RELEASE write")
            else:  # SQLite ended the whole transaction (a full disk among other errors)
                self._records.clear()
            if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
                raise self._error(exc, "write") from exc
            raise

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error(exc, "read") from exc
