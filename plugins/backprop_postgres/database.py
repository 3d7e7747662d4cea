"""One connection per process to the store's database, and transactions on it.

The connection is opened on first use (connecting also migrates the schema) and opened again
after the server dropped it (a restart, the network). A write is one explicit transaction; if
the connection turns out to be dead when the transaction begins, nothing was sent yet and it is
replaced once. A read retries once on a new connection. What still fails becomes a one-line
``StoreError`` (``StoreUnreachable`` when the server cannot be reached).

Until the process first needs psycopg, ``read`` goes through libpq directly
(``libpq_reads``), so commands that only read a few rows do not pay for importing psycopg.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from backprop_core import StoreError
from backprop_postgres.connection import (
    connect,
    connect_error,
    driver,
    lost_connection,
    newer_schema_error,
    store_error,
)
from backprop_postgres.libpq_reads import ConnectFailed, LibpqConnection, Unsupported
from backprop_postgres.location import remember
from backprop_postgres.schema import SCHEMA_VERSION

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")
#: A read: ``(sql, params)`` to the rows.
Reader = Callable[..., list[Any]]
SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
#: Connections a forked child inherited: never closed there (closing would end the parent's
#: session on the server), only forgotten.
_INHERITED: list[Any] = []
#: Whether ``read`` may use the libpq connection once psycopg's is open too. Off: a read then
#: goes where the writes go, and sees them even inside a transaction. (Tests turn it on to
#: send every read of the store contract through libpq.)
LIBPQ_AFTER_PSYCOPG = False


class Database:
    """The database at ``url``, used from one process (and any of its threads, in turn)."""

    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        self.home = home  # where the URL is remembered (``location.remember``)
        self._conn: psycopg.Connection | None = None
        self._pid = 0
        self._version = 0
        self.lock = threading.RLock()
        self.in_doubt = False
        # None: not tried yet; False: psycopg does the reads (no libpq here, or an old schema).
        self._libpq: LibpqConnection | bool | None = None

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is not None and self._pid != os.getpid():
            _INHERITED.append(self._conn)
            self._conn = None
        if self._conn is None or self._conn.closed:
            self._conn, self._version = connect(self.url)
            self._pid = os.getpid()
            if self.home.is_dir():
                remember(self.home, self.url)
            if not LIBPQ_AFTER_PSYCOPG:
                self._close_libpq(False)
        return self._conn

    def _close_libpq(self, state: bool | None) -> None:
        libpq, self._libpq = self._libpq, state
        if isinstance(libpq, LibpqConnection):
            libpq.close()

    def _libpq_reads(self) -> LibpqConnection | None:
        """The libpq connection for ``read``; ``None`` when psycopg does the reads."""
        libpq = self._libpq
        if isinstance(libpq, LibpqConnection) and libpq.pid != os.getpid():
            libpq.close()  # inherited: forgotten, not ended
            libpq = self._libpq = None
        if libpq is None and (self._conn is None or LIBPQ_AFTER_PSYCOPG):
            try:
                libpq = LibpqConnection.open(self.url)
            except ConnectFailed as exc:
                raise connect_error(exc, self.url) from None
            except Unsupported:
                libpq = False
            else:
                try:
                    current = libpq.schema_version() >= SCHEMA_VERSION
                except Unsupported:
                    current = False
                if not current:  # psycopg migrates it, or says why not
                    libpq.close()
                    libpq = False
                elif self.home.is_dir():
                    remember(self.home, self.url)
            self._libpq = libpq
        return libpq if isinstance(libpq, LibpqConnection) else None

    def forget(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            with suppress(Exception):
                conn.close()

    def error(self, exc: Exception, what: str) -> StoreError:
        if lost_connection(exc) or (self._conn is not None and self._conn.broken):
            self.forget()
        return store_error(exc, what, self.url)

    def close(self) -> None:
        with self.lock:
            self.forget()
            self._close_libpq(None)

    def begin(self) -> psycopg.Connection:
        """A connection in a new transaction; a connection the server dropped since its last
        use is replaced once (nothing was sent on it yet, so nothing is lost)."""
        psycopg = driver()
        for attempt in (1, 2):
            fresh = self._conn is None
            conn = self.conn
            if self._version > SCHEMA_VERSION:
                raise newer_schema_error(self.url, self._version)
            try:
                conn.execute("BEGIN")
                return conn
            except psycopg.Error as exc:
                if attempt == 2 or fresh or not lost_connection(exc):
                    raise self.error(exc, "write") from exc
                self.forget()
        raise AssertionError("unreachable")

    @contextmanager
    def write(self) -> Iterator[psycopg.Connection]:
        """A transaction, committed when the block ends. ``in_doubt`` says afterwards whether
        the connection was lost during the COMMIT itself: the server may have committed."""
        psycopg = driver()
        with self.lock:
            conn = self.begin()
            self.in_doubt = False
            try:
                yield conn
            except psycopg.Error as exc:
                self.rollback(conn)
                if isinstance(exc, psycopg.errors.UniqueViolation):
                    raise
                raise self.error(exc, "write") from exc
            except BaseException:
                self.rollback(conn)
                raise
            try:
                conn.execute("COMMIT")
            except psycopg.Error as exc:
                self.in_doubt = lost_connection(exc)
                raise self.error(exc, "write") from exc

    def rollback(self, conn: psycopg.Connection) -> None:
        if not conn.closed and not conn.broken:
            with suppress(Exception):
                conn.execute("ROLLBACK")

    def reading(self, fn: Callable[[psycopg.Connection], T]) -> T:
        """``fn(conn)``, once more on a new connection if the server dropped the old one."""
        psycopg = driver()
        with self.lock:
            for attempt in (1, 2):
                fresh = self._conn is None
                try:
                    return fn(self.conn)
                except psycopg.Error as exc:
                    if attempt == 2 or fresh or not lost_connection(exc):
                        raise self.error(exc, "read") from exc
                    self.forget()
        raise AssertionError("unreachable")

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.lock:
            libpq = self._libpq_reads()
            if libpq is not None:
                try:
                    return libpq.query(sql, params)
                except Unsupported:
                    pass  # psycopg reads it, with its own types and error messages
            return self.reading(lambda conn: conn.execute(sql, params).fetchall())

    def snapshot(self, fn: Callable[[Reader], T]) -> T:
        """``fn(read)``, where every ``read(sql, params)`` sees the database as it was when the
        first one ran (one repeatable-read, read-only transaction)."""
        with self.lock:
            libpq = self._libpq_reads()
            if libpq is not None:
                try:
                    libpq.command(SNAPSHOT)
                    try:
                        return fn(libpq.query)
                    finally:
                        libpq.command("ROLLBACK")
                except Unsupported:
                    pass  # as in ``read``

            def on_psycopg(conn: psycopg.Connection) -> T:
                conn.execute(SNAPSHOT)
                try:
                    return fn(lambda sql, params=(): conn.execute(sql, params).fetchall())
                finally:
                    self.rollback(conn)

            return self.reading(on_psycopg)
