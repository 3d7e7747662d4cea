"""Checkpoint records in SQLite: one row per run and file, the newest announcement."""

from __future__ import annotations

import sqlite3

from backprop_core import CheckpointRecord, RunRecord
from backprop_core.plugin_kit import checkpoint_key, checkpoint_to_dict, latest_per_key
from backprop_sqlite.connection import dumps


def insert_checkpoints(
    conn: sqlite3.Connection, run: RunRecord, checkpoints: list[CheckpointRecord]
) -> int:
    """Record ``checkpoints``, replacing the run's older records of the same files; returns
    how much the run's number of checkpoints changed."""
    if not checkpoints:
        return 0
    by_key = latest_per_key(checkpoints, run.cwd)
    rows = conn.execute("SELECT n, path FROM checkpoints WHERE run_id = ?", (run.id,)).fetchall()
    gone = [(run.id, n) for n, path in rows if checkpoint_key(path, run.cwd) in by_key]
    conn.executemany("DELETE FROM checkpoints WHERE run_id = ? AND n = ?", gone)
    n = conn.execute("SELECT checkpoint_seq FROM runs WHERE id = ?", (run.id,)).fetchone()[0]
    conn.executemany(
        "INSERT INTO checkpoints (run_id, n, path, record) VALUES (?,?,?,?)",
        [
            (run.id, n + i, c.path, dumps(checkpoint_to_dict(c)))
            for i, c in enumerate(by_key.values(), start=1)
        ],
    )
    conn.execute("UPDATE runs SET checkpoint_seq = ? WHERE id = ?", (n + len(by_key), run.id))
    return len(by_key) - len(gone)
