"""Checkpoint records in SQLite: one row per run and file (``key``), the newest announcement."""

from __future__ import annotations

import sqlite3

from backprop_core import CheckpointRecord, RunRecord
from backprop_core.plugin_kit import checkpoint_to_dict, latest_per_key
from backprop_sqlite.connection import dumps


def insert_checkpoints(
    conn: sqlite3.Connection, run: RunRecord, checkpoints: list[CheckpointRecord]
) -> int:
    """Record ``checkpoints``, replacing the run's older records of the same files; returns
    how many checkpoints the run has now."""
    if checkpoints:
        by_key = latest_per_key(checkpoints, run.cwd)
        conn.executemany(
            "DELETE FROM checkpoints WHERE run_id = ? AND key = ?", [(run.id, k) for k in by_key]
        )
        n = conn.execute("SELECT checkpoint_seq FROM runs WHERE id = ?", (run.id,)).fetchone()[0]
        conn.executemany(
            "INSERT INTO checkpoints (run_id, n, path, key, record) VALUES (?,?,?,?,?)",
            [
                (run.id, n + i, c.path, key, dumps(checkpoint_to_dict(c)))
                for i, (key, c) in enumerate(by_key.items(), start=1)
            ],
        )
        conn.execute("UPDATE runs SET checkpoint_seq = ? WHERE id = ?", (n + len(by_key), run.id))
    count: int = conn.execute(
        "SELECT count(*) FROM checkpoints WHERE run_id = ?", (run.id,)
    ).fetchone()[0]
    return count
