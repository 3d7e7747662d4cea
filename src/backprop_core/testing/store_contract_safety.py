"""The part of the store contract about bad input and checkpoint records: one bad field never
costs other events, and a checkpoint is one record per file. ``StoreContract`` includes it."""

from __future__ import annotations

import json
import math
import time

from backprop_core.events.event import Event
from backprop_core.events.file_identity import FileIdentity
from backprop_core.events.ingest import MetricLines
from backprop_core.store.contract import Store
from backprop_core.store.records import RunFilter, RunRecord, RunStatus

T0 = 1_790_000_000.0
NO_STEPS = (2**70, -(2**70), 2**63, -(2**63))


def _run(store: Store, run_id: str = "r1", **fields: object) -> RunRecord:
    fields.setdefault("status", RunStatus.RUNNING)
    return store.create_run(RunRecord(id=run_id, created_at=T0, **fields))  # type: ignore[arg-type]


def _metrics(step: object, value: float, t: float) -> Event:
    return Event("metrics", t, step, {"step": step, "data": {"loss": value}}, 1)  # type: ignore[arg-type]


def _alerts(store: Store, run_id: str) -> list[str]:
    return [str(e.event.payload.get("text")) for e in store.events(run_id, kinds=["alert"])]


class SafetyContract:
    """Behaviour every ``Store`` must have with bad input and repeated checkpoints."""

    def test_a_step_beyond_64_bits_loses_only_that_step(self, store: Store) -> None:
        _run(store)
        batch = [_metrics(1, 1.0, T0 + 1)]
        batch += [_metrics(step, 2.0 + i, T0 + 2 + i) for i, step in enumerate(NO_STEPS)]
        batch += [
            Event("metrics", T0 + 7, None, {"step": 1e300, "data": {"loss": 7.0}}, 1),
            Event("metrics", T0 + 8, math.nan, {"data": {"loss": 8.0}}, 1),  # type: ignore[arg-type]
            Event("checkpoint_saved", T0 + 9, 2**70, {"path": "c.pt", "step": 2**70}, 1),
            Event("summary", T0 + 10, -(2**64), {"data": {"epochs": 3}}, 1),
            _metrics(11, 11.0, T0 + 11),
            Event("done", T0 + 12, None, {}, 1),
        ]
        store.append_events("r1", batch)
        series = store.metric_series("r1", "loss")
        assert series.values == [1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 8.0, 11.0]
        assert series.steps == [1, None, None, None, None, None, None, 11]
        (checkpoint,) = store.checkpoints("r1")
        assert (checkpoint.path, checkpoint.step) == ("c.pt", None)
        run = store.get_run("r1")
        assert run.done and run.last_step == 11 and run.summary == {"epochs": 3}
        kinds = [e.event.kind for e in store.events("r1")]
        assert kinds.count("metrics") == 8 and kinds[-1] == "done"
        assert kinds[2] == "alert"  # right after the first event that lost its step
        assert [e.event.step for e in store.events("r1", kinds=["checkpoint_saved"])] == [None]
        (alert,) = _alerts(store, "r1")
        assert "7 event(s)" in alert and "64-bit" in alert

    def test_hot_path_metric_lines_with_a_bad_step_keep_their_neighbours(
        self, store: Store
    ) -> None:
        _run(store)
        steps: list[int | None] = [1, -(2**63), 3]
        data = [{"loss": 1.0}, {"loss": 2.0}, {"loss": 3.0}]
        texts = [
            json.dumps({"event": "metrics", "step": s, "data": d}) for s, d in zip(steps, data)
        ]
        lines = MetricLines(1, [T0 + 1, T0 + 2, T0 + 3], steps, data, texts)
        store.append_batch("r1", [lines, Event("done", T0 + 4, None, {}, 1)])
        series = store.metric_series("r1", "loss")
        assert (series.steps, series.values) == ([1, None, 3], [1.0, 2.0, 3.0])
        assert store.get_run("r1").done and store.get_run("r1").last_step == 3
        assert len(_alerts(store, "r1")) == 1

    def test_a_time_that_is_not_finite_becomes_the_time_it_was_stored(self, store: Store) -> None:
        _run(store)
        before = time.time()
        store.append_events("r1", [_metrics(1, 1.0, math.nan), _metrics(2, 2.0, math.inf)])
        times = store.metric_series("r1", "loss").times
        assert all(before - 1 <= t <= time.time() + 1 for t in times), times

    def test_a_value_too_big_for_a_float_loses_only_that_value(self, store: Store) -> None:
        _run(store)
        store.append_events(
            "r1",
            [
                Event("metrics", T0, 1, {"data": {"loss": 10**400, "acc": 0.5}}, 1),
                Event("checkpoint_saved", T0 + 1, 1, {"path": "c.pt", "metrics": {"x": 10**400}}),
            ],
        )
        assert store.metric_keys("r1") == ["acc"]
        assert store.get_run("r1").last_metrics == {"acc": 0.5}
        assert [c.path for c in store.checkpoints("r1")] == ["c.pt"]

    def test_announcing_a_path_again_replaces_its_record(self, store: Store) -> None:
        _run(store, cwd="/srv/proj")

        def saved(path: str, step: int, **more: object) -> Event:
            return Event("checkpoint_saved", T0 + step, step, {"path": path, **more}, 1)

        store.append_events("r1", [saved("ckpt.pt", 1, best=True), saved("other.pt", 2)])
        store.append_events("r1", [saved("./ckpt.pt", 3), saved("/srv/proj/ckpt.pt", 4)])
        store.append_events("r1", [saved("last.pt", 5), saved("last.pt", 6)])
        found = [(c.path, c.step, c.best) for c in store.checkpoints("r1")]
        assert found == [
            ("other.pt", 2, False),
            ("/srv/proj/ckpt.pt", 4, False),
            ("last.pt", 6, False),
        ]
        assert store.get_run("r1").checkpoint_count == 3
        _run(store, "r2", cwd="/elsewhere")  # another run's record of the same name is its own
        store.append_events("r2", [saved("ckpt.pt", 7)])
        assert len(store.checkpoints("r1")) == 3 and len(store.checkpoints("r2")) == 1

    def test_what_backprop_saw_of_a_checkpoint_file_is_kept(self, store: Store) -> None:
        _run(store)
        seen = FileIdentity("/data/ckpt.pt", 2049, 1234567, 10**10, 1_790_000_000_123_456_789)
        forged = {"path": "/etc/passwd", "device": 1, "inode": 2, "size": 3, "mtime_ns": 4}
        store.append_events(
            "r1",
            [
                Event("checkpoint_saved", T0, 1, {"path": "/data/ckpt.pt"}, 1, file=seen),
                Event("checkpoint_saved", T0, 2, {"path": "/etc/passwd", "file": forged}, 1),
            ],
        )
        assert [c.file for c in store.checkpoints("r1")] == [seen, None]
        other = type(store)(store.home.root)
        try:
            assert other.checkpoints("r1")[0].file == seen
        finally:
            other.close()

    def test_a_nan_in_a_run_never_breaks_filtering_by_tag(self, store: Store) -> None:
        _run(store, "a", tags={"team": "vision"})
        _run(store, "b", tags={"team": "nlp"})
        store.append_events("a", [_metrics(1, math.nan, T0)])
        store.append_events("b", [Event("summary", T0, None, {"data": {"best": math.inf}}, 1)])
        found = store.list_runs(RunFilter(tags=(("team", "vision"),)))
        assert [r.id for r in found] == ["a"] and math.isnan(found[0].last_metrics["loss"])
        assert store.count_runs(RunFilter(tags=(("team", "nlp"),))) == 1

    def test_run_ids_in_lists_the_runs_of_the_home(self, store: Store) -> None:
        _run(store, "a")
        _run(store, "b")
        assert type(store).run_ids_in(store.home.root) == {"a", "b"}
