"""Numbered schema migrations for ``backprop.db``; ``PRAGMA user_version`` counts those applied.

Append new migrations to ``MIGRATIONS``; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    # 1: the record model of run-record v1.
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        name TEXT,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        event_seq INTEGER NOT NULL DEFAULT 0,
        checkpoint_seq INTEGER NOT NULL DEFAULT 0,
        record TEXT NOT NULL
    );
    CREATE INDEX runs_by_created ON runs (created_at DESC, id DESC);
    CREATE INDEX runs_by_status ON runs (status, created_at DESC);
    CREATE INDEX runs_by_name ON runs (name);
    CREATE TABLE sessions (
        run_id TEXT NOT NULL,
        number INTEGER NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (run_id, number)
    ) WITHOUT ROWID;
    CREATE TABLE checkpoints (
        run_id TEXT NOT NULL,
        n INTEGER NOT NULL,
        path TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (run_id, n)
    ) WITHOUT ROWID;
    CREATE TABLE events (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        time REAL NOT NULL,
        step INTEGER,
        session INTEGER,
        payload TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        count INTEGER NOT NULL DEFAULT 0,
        UNIQUE (run_id, key)
    );
    -- value is NULL for a non-finite value and nf says which: SQLite stores NaN as NULL, so
    -- the flag is what makes NaN and ±Inf round-trip exactly.
    CREATE TABLE points (
        series INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        step INTEGER,
        time REAL NOT NULL,
        value REAL,
        nf INTEGER,
        session INTEGER,
        PRIMARY KEY (series, idx)
    ) WITHOUT ROWID;
    CREATE INDEX points_non_finite ON points (series, idx) WHERE value IS NULL;
    -- Per 64 consecutive points: the finite min and max and where they are. Downsampling a
    -- long series reads these instead of every point.
    CREATE TABLE tiles (
        series INTEGER NOT NULL,
        tile INTEGER NOT NULL,
        lo REAL, lo_idx INTEGER, lo_step INTEGER, lo_time REAL,
        hi REAL, hi_idx INTEGER, hi_step INTEGER, hi_time REAL,
        PRIMARY KEY (series, tile)
    ) WITHOUT ROWID;
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the database to ``SCHEMA_VERSION``; safe when several processes race to do it."""
    if conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            conn.execute("ROLLBACK")
            return
        for number in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
