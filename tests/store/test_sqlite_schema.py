"""SQLite schema migrations keep what older versions stored."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

from backprop_core.events.event import Event
from backprop_core.store.records import RunFilter
from backprop_sqlite.schema import MIGRATIONS, SCHEMA_VERSION, _checkpoint_keys
from backprop_sqlite.store import SqliteStore


def test_version_one_points_survive_the_move_to_chunks(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    conn = sqlite3.connect(home / "backprop.db")
    first = MIGRATIONS[0]
    assert isinstance(first, str)
    conn.executescript(first)
    conn.execute(
        "INSERT INTO runs (id, name, status, created_at, record) VALUES (?,?,?,?,?)",
        ("r1", None, "completed", 1.0, '{"id": "r1", "status": "completed", "created_at": 1.0}'),
    )
    conn.execute("INSERT INTO series (id, run_id, key, count) VALUES (1, 'r1', 'loss', 4)")
    conn.executemany(
        "INSERT INTO points (series, idx, step, time, value, nf) VALUES (1,?,?,?,?,?)",
        [
            (0, 0, 10.0, 0.5, None),
            (1, None, 11.0, None, 1),
            (2, 2, 12.0, None, 2),
            (3, 3, 13.0, None, 3),
        ],
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    store = SqliteStore(home)
    series = store.metric_series("r1", "loss")
    assert series.steps == [0, None, 2, 3]
    assert series.times == [10.0, 11.0, 12.0, 13.0]
    assert series.values[0] == 0.5 and math.isnan(series.values[1])
    assert series.values[2:] == [math.inf, -math.inf]
    version = store.conn.execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION
    store.close()


def test_records_from_before_checkpoint_keys_and_tag_columns_migrate(tmp_path: Path) -> None:
    """A store written before a new announcement of a path replaced the older record: its
    older records of the same file go, the newest stays, and counts follow."""
    home = tmp_path / "home"
    home.mkdir()
    conn = sqlite3.connect(home / "backprop.db")
    for step in MIGRATIONS[: MIGRATIONS.index(_checkpoint_keys)]:
        if callable(step):
            step(conn)
        else:
            conn.executescript(step)
    record = {"id": "r1", "status": "completed", "created_at": 1.0, "cwd": "/proj"}
    record.update(checkpoint_count=4, tags={"team": "vision"}, last_metrics={"loss": math.nan})
    conn.execute(
        "INSERT INTO runs (id, name, status, created_at, checkpoint_seq, record)"
        " VALUES ('r1', NULL, 'completed', 1.0, 4, ?)",
        (json.dumps(record),),
    )
    for n, path in enumerate(["ckpt.pt", "best.pt", "/proj/ckpt.pt", "./ckpt.pt"], start=1):
        conn.execute(
            "INSERT INTO checkpoints (run_id, n, path, record) VALUES ('r1', ?, ?, ?)",
            (n, path, json.dumps({"run_id": "r1", "path": path, "time": float(n), "step": n})),
        )
    conn.execute(f"PRAGMA user_version = {MIGRATIONS.index(_checkpoint_keys)}")
    conn.commit()
    conn.close()

    store = SqliteStore(home)  # a NaN in a record is no obstacle to migrating it
    assert [(c.path, c.step) for c in store.checkpoints("r1")] == [("best.pt", 2), ("./ckpt.pt", 4)]
    assert store.get_run("r1").checkpoint_count == 2
    store.append_events("r1", [Event("checkpoint_saved", 5.0, 5, {"path": "/proj/best.pt"})])
    assert [(c.path, c.step) for c in store.checkpoints("r1")] == [
        ("./ckpt.pt", 4),
        ("/proj/best.pt", 5),
    ]
    assert [r.id for r in store.list_runs(RunFilter(tags=(("team", "vision"),)))] == ["r1"]
    store.close()
