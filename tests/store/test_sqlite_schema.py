"""SQLite schema migrations keep what older versions stored."""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import replace
from pathlib import Path

from backprop_core.events.event import Event
from backprop_core.store.params import ParamCondition
from backprop_core.store.records import LOCAL_ORIGIN, RunFilter, RunStatus, SessionRecord
from backprop_core.testing.builders import make_run
from backprop_sqlite.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    _checkpoint_keys,
    _params_and_sessions,
)
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


def test_runs_from_before_params_get_them_from_their_arguments(tmp_path: Path) -> None:
    """Migration 5: an older run's arguments (and its SDK config, kept in the summary then)
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


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def test_a_database_at_the_schema_before_params_upgrades(tmp_path: Path) -> None:
    """A database written before params (checkpoint keys and the tags column already there)
    gets params and the chunks' sessions, keeping its tags, checkpoints and points."""
    home = tmp_path / "home"
    home.mkdir()
    before = MIGRATIONS.index(_params_and_sessions)
    with SqliteStore(home) as store:
        run = store.create_run(make_run("r1", argv=["--lr", "0.1"], tags={"team": "vision"}))
        store.add_session(SessionRecord(run.id, 1, RunStatus.RUNNING, 1.0))
        store.append_events(
            run.id,
            [
                Event("metrics", 2.0, 1, {"data": {"loss": math.nan}}, 1),
                Event("checkpoint_saved", 3.0, 1, {"path": "ckpt.pt"}, 1),
            ],
        )
    conn = sqlite3.connect(home / "backprop.db")
    (text,) = conn.execute("SELECT record FROM runs WHERE id = 'r1'").fetchone()
    record = json.loads(text)
    del record["params"]
    conn.execute("UPDATE runs SET record = ? WHERE id = 'r1'", (json.dumps(record),))
    # Undo migrations 6 and 5 the way a database of the schema before them looks: no origin,
    # no chunk columns.
    conn.execute("DROP INDEX runs_by_origin")
    conn.execute("ALTER TABLE runs DROP COLUMN origin")
    conn.execute("ALTER TABLE chunks DROP COLUMN session")
    conn.execute("ALTER TABLE chunks DROP COLUMN min_step")
    conn.execute("ALTER TABLE runs DROP COLUMN params")
    conn.execute(f"PRAGMA user_version = {before}")
    conn.commit()
    conn.close()

    with SqliteStore(home) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert {"session", "min_step"} <= _columns(store.conn, "chunks")
        run = store.get_run("r1")
        assert run.params == {"lr": 0.1} and run.checkpoint_count == 1
        assert [r.id for r in store.list_runs(RunFilter(tags=(("team", "vision"),)))] == ["r1"]
        found = store.list_runs(RunFilter(params=(ParamCondition.parse("lr=0.1"),)))
        assert [r.id for r in found] == ["r1"]
        assert [c.path for c in store.checkpoints("r1")] == ["ckpt.pt"]
        series = store.metric_series("r1", "loss")
        assert series.steps == [1] and series.sessions == [None]


def test_a_fresh_database_gets_every_migration(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "home") as store:
        conn = store.conn  # the first use creates the database
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
        assert "key" in _columns(conn, "checkpoints")
        assert {"tags", "params", "origin"} <= _columns(conn, "runs")
        assert {"session", "min_step", "max_step"} <= _columns(conn, "chunks")


def test_a_version_5_database_gains_the_origin_of_pulled_runs(tmp_path: Path) -> None:
    """A database of the schema before ``origin`` (version 5) gets the column: its runs are
    this machine's, and runs pulled afterwards can be told apart."""
    home = tmp_path / "home"
    home.mkdir()
    with SqliteStore(home) as store:
        store.create_run(make_run("here", tags={"team": "vision"}))
    conn = sqlite3.connect(home / "backprop.db")
    conn.execute("DROP INDEX runs_by_origin")
    conn.execute("ALTER TABLE runs DROP COLUMN origin")
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()

    with SqliteStore(home) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert "origin" in _columns(store.conn, "runs")
        store.create_run(replace(make_run("pulled"), origin="gpu-box"))
        assert [r.id for r in store.list_runs(RunFilter(origin=LOCAL_ORIGIN))] == ["here"]
        assert [r.id for r in store.list_runs(RunFilter(origin="gpu-box"))] == ["pulled"]
        assert store.get_run("here").origin is None and store.get_run("here").tags
