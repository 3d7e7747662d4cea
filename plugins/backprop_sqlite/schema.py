"""Numbered schema migrations for ``backprop.db``; ``PRAGMA user_version`` counts those applied.

Append new migrations to ``MIGRATIONS``; never edit one that has shipped.
"""

from __future__ import annotations

import json
import sqlite3
from array import array
from collections.abc import Callable

from backprop_core.plugin_kit import checkpoint_key, initial_params

# Migration 2's own copies of ``plugin_kit.NO_STEP`` and ``CHUNK_POINTS``: a shipped migration
# must do the same whatever later versions choose.
NO_STEP = -(2**63)  # how a point without a step is stored in a packed steps array
CHUNK_POINTS = 16_384  # at most this many points per stored chunk


def _points_to_chunks(conn: sqlite3.Connection) -> None:
    """Migration 2: one row per point (``points``) becomes packed chunks of points, which
    cuts the cost of storing a point by an order of magnitude. Values are kept bit for bit
    (NaN and ±Inf included)."""
    conn.execute(
        """CREATE TABLE chunks (
            series INTEGER NOT NULL,
            start INTEGER NOT NULL,
            n INTEGER NOT NULL,
            max_step INTEGER,
            non_finite INTEGER NOT NULL,
            steps BLOB NOT NULL,
            times BLOB NOT NULL,
            vals BLOB NOT NULL
        )"""
    )
    conn.execute("CREATE UNIQUE INDEX chunks_by_series ON chunks (series, start)")
    nf_value = {1: float("nan"), 2: float("inf"), 3: float("-inf")}
    for (sid,) in conn.execute("SELECT id FROM series").fetchall():
        rows = conn.execute(
            "SELECT idx, step, time, value, nf FROM points WHERE series = ? ORDER BY idx", (sid,)
        ).fetchall()
        for at in range(0, len(rows), CHUNK_POINTS):
            part = rows[at : at + CHUNK_POINTS]
            steps = [NO_STEP if r[1] is None else r[1] for r in part]
            real_steps = [r[1] for r in part if r[1] is not None]
            vals = [nf_value[r[4] or 1] if r[3] is None else r[3] for r in part]
            conn.execute(
                "INSERT INTO chunks (series, start, n, max_step, non_finite, steps, times, vals)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (
                    sid,
                    part[0][0],
                    len(part),
                    max(real_steps) if real_steps else None,
                    int(any(r[3] is None for r in part)),
                    array("q", steps).tobytes(),
                    array("d", [r[2] for r in part]).tobytes(),
                    array("d", vals).tobytes(),
                ),
            )
    conn.execute("DROP TABLE points")


def _checkpoint_keys(conn: sqlite3.Connection) -> None:
    """Checkpoints get the ``key`` of the file they name (``checkpoint_key``), indexed, since a
    new announcement of a path replaces the run's older records of it. Of the records already
    there, only the newest per run and key is kept: the older ones describe contents the file
    no longer has. Run records' ``checkpoint_count`` follows."""
    conn.execute("ALTER TABLE checkpoints ADD COLUMN key TEXT")
    # Records are parsed here, not by SQLite: its JSON reader refuses the NaN a record may hold.
    cwds = {
        run_id: json.loads(record).get("cwd")
        for run_id, record in conn.execute(
            "SELECT id, record FROM runs WHERE id IN (SELECT DISTINCT run_id FROM checkpoints)"
        )
    }
    newest: dict[tuple[str, str], int] = {}
    keys: list[tuple[str, str, int]] = []
    for run_id, n, path in conn.execute(
        "SELECT run_id, n, path FROM checkpoints ORDER BY run_id, n"
    ).fetchall():
        cwd = cwds.get(run_id)
        key = checkpoint_key(path, cwd if isinstance(cwd, str) else None)
        newest[(run_id, key)] = n
        keys.append((key, run_id, n))
    conn.executemany("UPDATE checkpoints SET key = ? WHERE run_id = ? AND n = ?", keys)
    older = [(run_id, n) for key, run_id, n in keys if newest[(run_id, key)] != n]
    conn.executemany("DELETE FROM checkpoints WHERE run_id = ? AND n = ?", older)
    conn.execute("CREATE INDEX checkpoints_by_key ON checkpoints (run_id, key)")
    for run_id in sorted({run_id for run_id, _ in older}):
        (record,) = conn.execute("SELECT record FROM runs WHERE id = ?", (run_id,)).fetchone()
        run = json.loads(record)
        run["checkpoint_count"] = conn.execute(
            "SELECT count(*) FROM checkpoints WHERE run_id = ?", (run_id,)
        ).fetchone()[0]
        record = json.dumps(run, default=str, separators=(",", ":"))
        conn.execute("UPDATE runs SET record = ? WHERE id = ?", (record, run_id))


def _tags_column(conn: sqlite3.Connection) -> None:
    """Runs' tags get a column of their own, which the tag filter reads: SQLite's JSON reader
    refuses a whole record for one NaN in it (a last loss of NaN), which made ``list --tag``
    fail for every run."""
    conn.execute("ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '{}'")
    rows = conn.execute("SELECT id, record FROM runs").fetchall()
    conn.executemany(
        "UPDATE runs SET tags = ? WHERE id = ?",
        [(json.dumps(json.loads(record).get("tags") or {}), run_id) for run_id, record in rows],
    )


def _params_and_sessions(conn: sqlite3.Connection) -> None:
    """Migration 5: runs get ``params`` (read from their arguments and the ``config`` older
    SDKs kept in the summary), in the record and in a column of their own that the param
    filter reads (as tags have theirs); chunks get the session that logged their points and
    their smallest step, which is how points that a resumed session supersedes are found.
    Chunks written before keep no session, so their points are never superseded."""
    conn.execute("ALTER TABLE chunks ADD COLUMN session INTEGER")
    conn.execute("ALTER TABLE chunks ADD COLUMN min_step INTEGER")
    conn.execute("ALTER TABLE runs ADD COLUMN params TEXT NOT NULL DEFAULT '{}'")
    rows = conn.execute("SELECT id, record FROM runs").fetchall()
    for run_id, text in rows:
        record = json.loads(text)
        if "params" not in record:
            argv = record.get("argv") if isinstance(record.get("argv"), list) else []
            summary = record.get("summary") if isinstance(record.get("summary"), dict) else {}
            record["params"] = initial_params([str(a) for a in argv], summary)
            text = json.dumps(record, default=str, separators=(",", ":"))
        params = record["params"] if isinstance(record["params"], dict) else {}
        conn.execute(
            "UPDATE runs SET params = ?, record = ? WHERE id = ?",
            (json.dumps(params, default=str, separators=(",", ":")), text, run_id),
        )


MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [
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
    # 2: points stored in packed chunks.
    _points_to_chunks,
    # 3: one checkpoint record per run and file.
    _checkpoint_keys,
    # 4: tags in a column of their own.
    _tags_column,
    # 5: run parameters (also in a column of their own); the session of each chunk of points.
    _params_and_sessions,
    # 6: the host a pulled run came from, as a column: filtering by it must not parse records
    # (SQLite's JSON functions refuse the NaN a record's metrics may hold).
    """
    ALTER TABLE runs ADD COLUMN origin TEXT;
    CREATE INDEX runs_by_origin ON runs (origin, created_at DESC);
    """,
    # 7: artifact versions, their aliases, and runs' uses of them (docs/artifacts.md).
    """
    CREATE TABLE artifact_names (
        name TEXT PRIMARY KEY,
        next_version INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE artifact_versions (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        digest TEXT NOT NULL,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        files INTEGER NOT NULL,
        type TEXT NOT NULL,
        run_id TEXT,
        created_at REAL NOT NULL,
        step INTEGER,
        metadata TEXT NOT NULL,
        source TEXT,
        PRIMARY KEY (name, version)
    ) WITHOUT ROWID;
    CREATE INDEX artifact_versions_by_type ON artifact_versions (type, name, version);
    CREATE INDEX artifact_versions_by_run ON artifact_versions (run_id);
    CREATE TABLE artifact_aliases (
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (name, alias)
    ) WITHOUT ROWID;
    CREATE TABLE artifact_uses (
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        digest TEXT NOT NULL,
        ref TEXT NOT NULL,
        time REAL NOT NULL,
        UNIQUE (run_id, name, version)
    );
    CREATE INDEX artifact_uses_by_version ON artifact_uses (name, version);
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
            step = MIGRATIONS[number]
            if callable(step):
                step(conn)
                continue
            for statement in step.split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
