"""Store contract: ``Store.batch``, writes grouped for a caller that makes thousands (pull)."""

from __future__ import annotations

import pytest

from backprop_core.errors import RunNotFound
from backprop_core.store.contract import DuplicateRun, Store
from backprop_core.store.records import RunFilter, RunStatus, SessionRecord
from backprop_core.testing.builders import T0, make_run, metrics

A = "20260101-000000-aaaa"
B = "20260101-000000-bbbb"


class BatchContract:
    def test_writes_in_a_batch_are_read_back_inside_it_and_kept_after_it(
        self, store: Store
    ) -> None:
        with store.batch():
            store.create_run(make_run(A))
            store.add_session(SessionRecord(A, 1, RunStatus.RUNNING, T0))
            store.append_events(A, [metrics(1, loss=0.5), metrics(2, loss=0.25)])
            assert store.get_run(A).session_count == 1
            assert store.last_event_seq(A) == 2
            store.update_run(A, status=RunStatus.COMPLETED)
        store.close()  # what another process would find
        run = store.get_run(A)
        assert (run.status, run.session_count, run.last_metrics) == (
            RunStatus.COMPLETED,
            1,
            {"loss": 0.25},
        )
        assert store.metric_series(A, "loss").values == [0.5, 0.25]

    def test_a_write_that_fails_in_a_batch_undoes_only_itself(self, store: Store) -> None:
        with store.batch():
            store.create_run(make_run(A, name="first"))
            with pytest.raises(DuplicateRun):
                store.create_run(make_run(A, name="again"))
            store.append_events(A, [metrics(1, loss=0.5)])
        assert store.get_run(A).name == "first"
        assert [e.seq for e in store.events(A)] == [1]

    def test_a_batch_left_by_an_error_keeps_whole_writes_and_the_store_goes_on(
        self, store: Store
    ) -> None:
        with pytest.raises(RuntimeError), store.batch():
            store.create_run(make_run(A))
            store.append_events(A, [metrics(1, loss=0.5), metrics(2, loss=0.25)])
            raise RuntimeError("cut off")
        kept = [r.id for r in store.list_runs()]
        if kept:  # a prefix of the writes: the run alone, or the run and all its events
            assert store.last_event_seq(A) in (0, 2)
            assert len(store.metric_series(A, "loss").values) == store.last_event_seq(A)
        store.create_run(make_run(B))
        assert B in {r.id for r in store.list_runs()}

    def test_a_batch_inside_a_batch_is_part_of_it(self, store: Store) -> None:
        with store.batch():
            store.create_run(make_run(A))
            with store.batch():
                store.create_run(make_run(B))
            store.update_run(A, name="outer")
        assert {r.id: r.name for r in store.list_runs()} == {A: "outer", B: None}

    def test_queries_inside_a_batch_see_the_runs_as_changed_in_it(self, store: Store) -> None:
        store.create_run(make_run(B, name="other"))
        with store.batch():
            store.create_run(make_run(A, name="before"))
            store.update_run(A, name="after", tags={"lr": "0.1"})
            assert [r.id for r in store.list_runs(RunFilter(name="after"))] == [A]
            assert [r.id for r in store.list_runs(RunFilter(tags=(("lr", "0.1"),)))] == [A]
            assert store.count_runs(RunFilter(name="before")) == 0
            assert store.resolve("after").id == A
            store.update_run(B, status=RunStatus.COMPLETED)
            assert store.count_runs(RunFilter(statuses=frozenset({RunStatus.COMPLETED}))) == 1
            store.update_run(A, name="last")
        assert {r.id: r.name for r in store.list_runs()} == {A: "last", B: "other"}
        assert store.get_run(B).status is RunStatus.COMPLETED

    def test_a_record_changed_by_its_reader_inside_a_batch_stays_as_stored(
        self, store: Store
    ) -> None:
        with store.batch():
            store.create_run(make_run(A, tags={"lr": "0.1"}, settings={"gpu": {"count": 1}}))
            read = store.get_run(A)
            read.name = "changed by the caller"
            read.tags["lr"] = "0.5"
            read.settings["gpu"]["count"] = 4
            returned = store.update_run(A, status=RunStatus.COMPLETED)
            returned.tags["extra"] = "x"
            returned.settings["gpu"]["count"] = 8
            store.append_events(A, [metrics(1, loss=0.5)])
            inside = store.get_run(A)
        after = store.get_run(A)
        for run in (inside, after):
            assert (run.name, run.tags) == (None, {"lr": "0.1"})
            assert (run.settings, run.status) == ({"gpu": {"count": 1}}, RunStatus.COMPLETED)

    def test_a_run_deleted_in_a_batch_is_gone_inside_it_and_after_it(self, store: Store) -> None:
        with store.batch():
            store.create_run(make_run(A))
            store.update_run(A, name="soon gone")
            store.delete_run(A)
            with pytest.raises(RunNotFound):
                store.get_run(A)
            store.create_run(make_run(A, name="again"))
        assert [(r.id, r.name) for r in store.list_runs()] == [(A, "again")]
