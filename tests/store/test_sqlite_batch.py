"""The SQLite store inside ``Store.batch``: run records kept in memory between writes never
outlive a write that failed, nor a transaction SQLite ended."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from backprop_core.errors import RunNotFound, StoreError
from backprop_core.store.records import RunStatus, SessionRecord
from backprop_core.testing.builders import T0, make_run, metrics
from backprop_sqlite.store import SqliteStore

A = "20260101-000000-aaaa"
B = "20260101-000000-bbbb"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "home")
    store.home.ensure()
    yield store
    store.close()


def fail_when_event_seq_reaches(store: SqliteStore, seq: int, how: str = "ABORT") -> None:
    """Make SQLite refuse the last statement of ``append_events`` (after the run's record has
    been changed) when the run's event count would reach ``seq``."""
    store.conn.execute(
        f"CREATE TRIGGER refuse AFTER UPDATE OF event_seq ON runs WHEN NEW.event_seq = {seq}"
        f" BEGIN SELECT RAISE({how}, 'refused by the test'); END"
    )


def test_a_write_that_fails_in_a_batch_leaves_no_change_for_a_later_write_to_keep(
    store: SqliteStore,
) -> None:
    fail_when_event_seq_reaches(store, 2)
    with store.batch():
        store.create_run(make_run(A))
        store.add_session(SessionRecord(A, 1, RunStatus.RUNNING, T0))
        store.append_events(A, [metrics(1, loss=0.5)])
        with pytest.raises(sqlite3.IntegrityError):
            store.append_events(A, [metrics(2, loss=0.25, acc=0.9)])
        assert store.get_run(A).last_metrics == {"loss": 0.5}
        store.update_run(A, status=RunStatus.COMPLETED)
    run = store.get_run(A)
    assert (run.status, run.last_metrics, run.last_step) == (RunStatus.COMPLETED, {"loss": 0.5}, 1)
    assert store.last_event_seq(A) == 1
    assert store.metric_keys(A) == ["loss"]


def test_a_failed_write_undoes_only_itself_among_the_batchs_changes(store: SqliteStore) -> None:
    fail_when_event_seq_reaches(store, 1)
    with store.batch():
        store.create_run(make_run(A))
        store.update_run(A, name="kept")
        store.create_run(make_run(B))
        with pytest.raises(sqlite3.IntegrityError):
            store.append_events(A, [metrics(1, loss=0.5)])
        store.update_run(B, name="also kept")
    assert {r.id: (r.name, r.last_metrics) for r in store.list_runs()} == {
        A: ("kept", {}),
        B: ("also kept", {}),
    }


def test_a_batch_whose_transaction_sqlite_ended_keeps_no_record_of_it(
    store: SqliteStore,
) -> None:
    """RAISE(ROLLBACK) ends the whole transaction, as some errors (a full disk) do."""
    fail_when_event_seq_reaches(store, 1, how="ROLLBACK")
    with pytest.raises(StoreError), store.batch():
        store.create_run(make_run(A))
        store.update_run(A, name="lost with the transaction")
        with pytest.raises(sqlite3.IntegrityError):
            store.append_events(A, [metrics(1, loss=0.5)])
        with pytest.raises(RunNotFound):
            store.get_run(A)
        store.create_run(make_run(B))  # a write of its own, outside the ended transaction
    assert [(r.id, r.name) for r in store.list_runs()] == [(B, None)]
