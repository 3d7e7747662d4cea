"""Opening ``backprop.db``: WAL and busy timeout, migrations, moving a corrupt file aside, a
read-only fallback for read-only media, and one-line errors."""

from __future__ import annotations

import fnmatch
import json
import os
import random
import sqlite3
import time
from pathlib import Path

from backprop_core import Home, ParamCondition, StoreError, StoreFull
from backprop_core.plugin_kit import (
    DISK_FULL_HINT,
    disk_is_full,
    move_aside,
    os_error_to_store_error,
    warn_moved_aside,
)
from backprop_sqlite.event_rows import Connection
from backprop_sqlite.schema import SCHEMA_VERSION, migrate

BUSY_TIMEOUT_S = 30.0
DB_NAME = "backprop.db"
# One encoder for the process: json.dumps with options builds a new one on every call.
dumps = json.JSONEncoder(default=str, separators=(",", ":")).encode


def _glob(pattern: str, name: str | None) -> bool:
    return name is not None and fnmatch.fnmatchcase(name, pattern)


def _params(params: str, name: str, op: str, text: str) -> bool:
    """``--param`` on a run's ``params`` column (``ParamCondition``). The column is parsed
    here, not by SQLite: its JSON reader refuses the NaN a parameter may be."""
    return ParamCondition(name, op, text).matches_params(json.loads(params))


def _functions(conn: sqlite3.Connection) -> None:
    conn.create_function("bp_glob", 2, _glob, deterministic=True)
    conn.create_function("bp_params", 4, _params, deterministic=True)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_S,
        isolation_level=None,
        check_same_thread=False,
        factory=Connection,
    )
    _functions(conn)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    _use_wal(conn)
    # NORMAL in WAL mode keeps every commit through a process crash (not a power cut).
    conn.execute("PRAGMA synchronous = NORMAL")
    migrate(conn)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        conn.close()
        raise StoreError(
            f"{path} was written by a newer backprop (schema {version})",
            hint="upgrade backprop",
        )
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch a new database to WAL, waiting out other processes doing the same.

    The switch reads the header, then upgrades to a write lock; SQLite answers "database is
    locked" at once, without its busy handler, when another connection holds that lock
    (the handler could deadlock there). Many processes opening a new store together hit
    it, so the switch is retried for as long as the busy timeout allows.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            # A random pause so that processes started together do not collide again.
            time.sleep(random.uniform(0.005, 0.05))


def open_connection(home: Home, path: Path) -> sqlite3.Connection:
    """A connection to ``path``, creating, migrating or replacing a corrupt file as needed."""
    try:
        home.root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_error_to_store_error(exc, "create the backprop home") from exc
    try:
        return _connect(path)
    except sqlite3.DatabaseError as exc:
        if "not a database" not in str(exc) and "malformed" not in str(exc):
            reader = _read_only_connection(home, path)
            if reader is not None:
                return reader
            raise store_error(exc, "open", path) from exc
    backup = move_aside(home, path, extra_suffixes=("-wal", "-shm"), probe=_unreadable)
    try:
        return _connect(path)
    finally:
        if backup is not None:
            warn_moved_aside(path, backup)


def run_ids(path: Path) -> set[str] | None:
    """The ids of the runs in the database at ``path``, read without creating, migrating or
    moving aside anything; empty without a database, ``None`` if it cannot be read."""
    if not path.exists():
        return set()
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            return {row[0] for row in conn.execute("SELECT id FROM runs")}
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def _read_only_connection(home: Home, path: Path) -> sqlite3.Connection | None:
    """A read-only connection when the home cannot be written, so reading still works
    (writes then fail with a read-only ``StoreError``)."""
    if not path.exists():
        return None
    read_only_fs = _read_only_fs(home.root)
    writable = os.access(home.root, os.W_OK | os.X_OK) and os.access(path, os.W_OK)
    if writable and not read_only_fs:
        return None
    # On read-only media nobody can change the file, which is what ``immutable`` needs.
    mode = "immutable=1" if read_only_fs else "mode=ro"
    try:
        conn = sqlite3.connect(
            f"{path.as_uri()}?{mode}",
            uri=True,
            timeout=BUSY_TIMEOUT_S,
            isolation_level=None,
            check_same_thread=False,
        )
        _functions(conn)
        conn.execute("SELECT count(*) FROM runs").fetchone()
        return conn
    except sqlite3.Error:
        return None


def store_error(exc: Exception, what: str, path: Path) -> StoreError:
    """A one-line ``StoreError`` for a failed SQLite operation, with what to do about it."""
    if isinstance(exc, OSError):
        return os_error_to_store_error(exc, f"{what} the run store")
    text = str(exc)
    if _out_of_space(exc, path):
        return StoreFull(f"cannot {what} the run store {path}: disk full ({text})", hint=HINT_FULL)
    if "readonly" in text or "read-only" in text:
        hint = "the store is read-only; set BACKPROP_HOME or --home to a writable folder"
    elif "locked" in text or "busy" in text:
        hint = "another backprop process held the store too long; try again"
    else:
        hint = "check the file, or move it aside to start a new store"
    return StoreError(f"cannot {what} the run store {path}: {text}", hint=hint)


# Without space SQLite may say "database or disk is full" (SQLITE_FULL), or only "disk I/O
# error" or "unable to open database file" when it could not grow its -wal or -shm file.
_FULL = 13  # SQLITE_FULL
_VAGUE = {10, 14}  # SQLITE_IOERR, SQLITE_CANTOPEN (extended codes keep these in the low byte)
HINT_FULL = DISK_FULL_HINT.split(": ", 1)[1]  # the message already says "disk full"


def _out_of_space(exc: Exception, path: Path) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    text = str(exc)
    if code is not None:
        primary = code & 0xFF
        if primary == _FULL:
            return True
        return primary in _VAGUE and disk_is_full(path.parent)
    if "database or disk is full" in text:
        return True
    vague = "disk I/O error" in text or "unable to open database file" in text
    return vague and disk_is_full(path.parent)


def _read_only_fs(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _unreadable(path: Path) -> bool:
    """Whether ``path`` is still unreadable as a database (re-checked under the lock)."""
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
        try:
            conn.execute("PRAGMA user_version").fetchone()
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
        return False
    except sqlite3.DatabaseError:
        return True
