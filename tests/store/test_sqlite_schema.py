"""SQLite schema migrations keep what older versions stored."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

from backprop_core.events.event import Event
from backprop_core.store.params import ParamCondition
from backprop_core.store.records import RunFilter, RunStatus, SessionRecord
from backprop_sqlite.schema import MIGRATIONS, SCHEMA_VERSION
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


def test_runs_from_before_params_get_them_from_their_arguments(tmp_path: Path) -> None:
    """Migration 3: an older run's arguments (and its SDK config, kept in the summary then)
    become its params, so `list --param` finds it; its points stay readable."""
    home = tmp_path / "home"
    home.mkdir()
    conn = sqlite3.connect(home / "backprop.db")
    for step in MIGRATIONS[:2]:
        if callable(step):
            step(conn)
        else:
            conn.executescript(step)
    record = {
        "id": "old",
        "status": "completed",
        "created_at": 1.0,
        "argv": ["config/x.py", "--lr", "3e-4", "--compile=False", "--amp"],
        "summary": {"config": {"batch_size": 64, "lr": 1e-3}},
    }
    conn.execute(
        "INSERT INTO runs (id, name, status, created_at, record) VALUES (?,?,?,?,?)",
        ("old", None, "completed", 1.0, json.dumps(record)),
    )
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()

    with SqliteStore(home) as store:
        run = store.get_run("old")
        assert run.params == {"lr": 1e-3, "compile": False, "amp": True, "batch_size": 64}
        found = store.list_runs(RunFilter(params=(ParamCondition.parse("batch_size>32"),)))
        assert [r.id for r in found] == ["old"]
        store.add_session(SessionRecord("old", 1, RunStatus.COMPLETED, 1.0))
        store.append_events("old", [Event("metrics", 2.0, 1, {"data": {"loss": 1.0}}, 1)])
        assert store.metric_series("old", "loss").sessions == [1]
