"""The store contract suite: every store plugin, built-in or third-party, must pass it.

Subclass ``StoreContract`` in a pytest module and provide a ``store`` fixture that returns a
fresh, empty store rooted at a temporary home::

    from backprop_core.testing.store_contract import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            return MyStore(tmp_path / "home")
"""

from __future__ import annotations

import math
import time

import pytest

from backprop_core.errors import AmbiguousRun, RunNotFound
from backprop_core.events.event import Event
from backprop_core.store.contract import DuplicateRun, Store
from backprop_core.store.records import (
    LOCAL_ORIGIN,
    PauseRecord,
    RunFilter,
    RunStatus,
    SessionRecord,
)
from backprop_core.testing.builders import T0, make_run, metrics, same_float
from backprop_core.testing.contract_batch import BatchContract
from backprop_core.testing.contract_params import ParamsContract
from backprop_core.testing.contract_sessions import SessionsContract
from backprop_core.testing.liveness_contract import LivenessContract
from backprop_core.testing.store_contract_artifacts import ArtifactContract
from backprop_core.testing.store_contract_safety import SafetyContract

__all__ = ["T0", "StoreContract", "make_run", "metrics", "same_float"]


class StoreContract(
    SafetyContract,
    ParamsContract,
    SessionsContract,
    LivenessContract,
    ArtifactContract,
    BatchContract,
):
    """Behaviour every ``Store`` must have. Override ``store`` with a fixture.

    Bad input and checkpoint records (``store_contract_safety``), parameters and sessions that
    rewind (``contract_params``, ``contract_sessions``), heartbeats and where a session's
    supervisor runs (``liveness_contract``), artifact records (``store_contract_artifacts``)
    and batches of writes (``contract_batch``) are in their own modules; this class collects
    them all.
    """

    @pytest.fixture
    def store(self) -> Store:  # pragma: no cover - subclasses provide it
        raise NotImplementedError

    # runs -----------------------------------------------------------------------------------
    def test_create_and_get_round_trips_every_field(self, store: Store) -> None:
        run = make_run(
            "20260101-000000-abcd",
            name="baseline ✓ 日本語",
            tags={"lr": "3e-4", "team": "vision"},
            project="proj",
            script="train.py",
            argv=["--epochs", "3"],
            cwd="/tmp/x",
            command=["python", "train.py"],
            framework="pytorch",
            settings={"maxRunMinutes": 10, "gpu": {"count": 1}},
            params={"lr": 3e-4, "epochs": 3, "amp": True, "opt": "adamw", "optim.beta": 0.9},
            started_at=T0 + 1,
            environment={"python": "3.11"},
        )
        store.create_run(run)
        assert store.get_run(run.id) == run

    def test_duplicate_id_is_refused(self, store: Store) -> None:
        store.create_run(make_run("r-dup"))
        with pytest.raises(DuplicateRun):
            store.create_run(make_run("r-dup"))

    def test_create_run_unique_draws_a_new_id(self, store: Store) -> None:
        store.create_run(make_run("20260101-000000-aaaa"))
        created = store.create_run_unique(make_run("20260101-000000-aaaa"))
        assert created.id != "20260101-000000-aaaa"
        assert store.count_runs() == 2

    def test_update_run(self, store: Store) -> None:
        store.create_run(make_run("r1"))
        updated = store.update_run("r1", status="completed", exit_code=0, ended_at=T0 + 5)
        assert updated.status is RunStatus.COMPLETED
        got = store.get_run("r1")
        assert (got.status, got.exit_code, got.ended_at) == (RunStatus.COMPLETED, 0, T0 + 5)

    def test_update_unknown_field_is_an_error(self, store: Store) -> None:
        store.create_run(make_run("r1"))
        with pytest.raises(TypeError):
            store.update_run("r1", colour="blue")

    def test_missing_run(self, store: Store) -> None:
        with pytest.raises(RunNotFound):
            store.get_run("nope")
        with pytest.raises(RunNotFound):
            store.update_run("nope", status="failed")

    def test_list_newest_first_with_limit_and_offset(self, store: Store) -> None:
        for i in range(5):
            store.create_run(make_run(f"r{i}", created=T0 + i))
        assert [r.id for r in store.list_runs()] == ["r4", "r3", "r2", "r1", "r0"]
        assert [r.id for r in store.list_runs(RunFilter(limit=2))] == ["r4", "r3"]
        assert [r.id for r in store.list_runs(RunFilter(limit=2, offset=2))] == ["r2", "r1"]
        assert store.count_runs(RunFilter(limit=1)) == 5

    def test_filters(self, store: Store) -> None:
        store.create_run(make_run("a", T0, name="resnet-1", tags={"lr": "0.1"}))
        store.create_run(make_run("b", T0 + 1, name="resnet-2", tags={"lr": "0.01"}))
        store.create_run(make_run("c", T0 + 2, name="vit", status=RunStatus.FAILED))

        def ids(**kw: object) -> list[str]:
            return [r.id for r in store.list_runs(RunFilter(**kw))]  # type: ignore[arg-type]

        assert ids(statuses=frozenset({RunStatus.FAILED})) == ["c"]
        assert ids(statuses=frozenset({RunStatus.RUNNING, RunStatus.FAILED})) == ["c", "b", "a"]
        assert ids(name="resnet-*") == ["b", "a"]
        assert ids(name="Resnet-*") == []
        assert ids(tags=(("lr", "0.1"),)) == ["a"]
        assert ids(tags=(("lr", "0.1"), ("x", "y"))) == []
        assert store.count_runs(RunFilter(name="resnet-*")) == 2

    def test_filter_by_origin_even_with_non_finite_metrics(self, store: Store) -> None:
        store.create_run(make_run("here", T0, last_metrics={"loss": float("nan")}))
        store.create_run(make_run("pulled", T0 + 1, origin="gpu-box"))
        store.create_run(make_run("other", T0 + 2, origin="ada@lab"))
        store.update_run("here", tags={"k": "v"})
        store.append_events("pulled", [metrics(1, loss=float("inf"))])

        def ids(origin: str) -> list[str]:
            return [r.id for r in store.list_runs(RunFilter(origin=origin))]

        assert ids("gpu-box") == ["pulled"] and ids("ada@lab") == ["other"]
        assert ids(LOCAL_ORIGIN) == ["here"]
        assert store.count_runs(RunFilter(origin="gpu-box")) == 1
        assert store.get_run("pulled").origin == "gpu-box"
        assert store.last_event_seq("pulled") == 1 and store.last_event_seq("here") == 0

    def test_very_long_tags_and_unicode(self, store: Store) -> None:
        long_value = "v" * 100_000
        store.create_run(
            make_run("r1", name="naïve 🚀", tags={"note": long_value, "ключ": "значение"})
        )
        got = store.get_run("r1")
        assert got.tags["note"] == long_value
        assert store.list_runs(RunFilter(tags=(("ключ", "значение"),)))[0].name == "naïve 🚀"
        assert store.resolve("naïve 🚀").id == "r1"

    def test_resolve_by_id_prefix_and_name(self, store: Store) -> None:
        store.create_run(make_run("20260101-000000-abcd", T0, name="alpha"))
        store.create_run(make_run("20260101-000000-abxy", T0 + 1, name="beta"))
        store.create_run(make_run("20260102-000000-zzzz", T0 + 2, name="beta"))
        assert store.resolve("20260101-000000-abcd").name == "alpha"
        assert store.resolve("20260102").id == "20260102-000000-zzzz"
        assert store.resolve("alpha").id == "20260101-000000-abcd"
        with pytest.raises(AmbiguousRun) as info:
            store.resolve("20260101-000000-ab")
        assert info.value.candidates == ["20260101-000000-abxy", "20260101-000000-abcd"]
        with pytest.raises(AmbiguousRun):
            store.resolve("beta")
        with pytest.raises(RunNotFound):
            store.resolve("gamma")

    def test_resolve_by_random_suffix(self, store: Store) -> None:
        store.create_run(make_run("20260101-000000-abcd", T0, name="alpha"))
        store.create_run(make_run("20260101-000001-wxyz", T0 + 1))
        store.create_run(make_run("20260101-000002-xwxyz", T0 + 2))
        store.create_run(make_run("20260102-000000-qq11", T0 + 3, name="abcd"))
        assert store.resolve("wxyz").id == "20260101-000001-wxyz"  # a whole part, not any tail
        assert store.resolve("xwxyz").id == "20260101-000002-xwxyz"
        assert store.resolve("qq11").name == "abcd"
        # A name is tried before a suffix: "abcd" is a run's name and another run's suffix.
        assert store.resolve("abcd").id == "20260102-000000-qq11"
        with pytest.raises(RunNotFound):
            store.resolve("xyz")
        with pytest.raises(RunNotFound):
            store.resolve("")
        store.create_run(make_run("20260103-000000-qq11", T0 + 4))
        with pytest.raises(AmbiguousRun) as info:
            store.resolve("qq11")
        assert info.value.candidates == ["20260103-000000-qq11", "20260102-000000-qq11"]

    def test_resolve_prefix_treats_wildcards_literally(self, store: Store) -> None:
        store.create_run(make_run("a_b"))
        store.create_run(make_run("axb"))
        assert store.resolve("a_").id == "a_b"
        with pytest.raises(RunNotFound):
            store.resolve("a%")

    def test_delete_run_removes_everything(self, store: Store) -> None:
        store.create_run(make_run("r1"))
        store.add_session(SessionRecord("r1", 1, RunStatus.RUNNING, T0))
        store.append_events(
            "r1", [metrics(1, loss=1.0), Event("checkpoint_saved", T0, 1, {"path": "c.pt"})]
        )
        store.delete_run("r1")
        with pytest.raises(RunNotFound):
            store.get_run("r1")
        assert store.sessions("r1") == []
        assert store.checkpoints("r1") == []
        assert store.metric_keys("r1") == []
        assert store.events("r1") == []
        store.create_run(make_run("r1"))  # the id is free again
        assert store.metric_series("r1", "loss").total == 0

    # sessions -------------------------------------------------------------------------------
    def test_sessions(self, store: Store) -> None:
        store.create_run(make_run("r1"))
        store.add_session(
            SessionRecord("r1", 1, RunStatus.RUNNING, T0, supervisor_pid=10, gpus=["0"])
        )
        store.add_session(SessionRecord("r1", 2, RunStatus.RUNNING, T0 + 10))
        updated = store.update_session(
            "r1",
            1,
            status=RunStatus.TIMEBOXED,
            ended_at=T0 + 9,
            exit_code=None,
            signal=15,
            pauses=[PauseRecord("gpu hot", T0 + 2, T0 + 3)],
            active_seconds=8.0,
        )
        assert updated.status is RunStatus.TIMEBOXED
        sessions = store.sessions("r1")
        assert [s.number for s in sessions] == [1, 2]
        assert sessions[0].pauses == [PauseRecord("gpu hot", T0 + 2, T0 + 3)]
        assert sessions[0].gpus == ["0"] and sessions[0].signal == 15
        run = store.get_run("r1")
        assert run.session_count == 2
        assert run.active_seconds == 8.0

    def test_a_scheduled_session_keeps_its_job(self, store: Store) -> None:
        store.create_run(make_run("r1", status=RunStatus.QUEUED))
        job: dict[str, object] = {"name": "slurm", "job_id": "812", "state": "PENDING"}
        store.add_session(SessionRecord("r1", 1, RunStatus.QUEUED, T0, launcher=dict(job)))
        assert store.sessions("r1")[0].launcher == job
        started = {**job, "state": None, "state_reason": None, "node": "gpu-07"}
        started["restart_count"] = 1
        store.update_session("r1", 1, status=RunStatus.RUNNING, launcher=started)
        session = store.sessions("r1")[0]
        assert session.launcher == started and session.status is RunStatus.RUNNING
        store.add_session(SessionRecord("r1", 2, RunStatus.RUNNING, T0 + 10))
        assert store.sessions("r1")[1].launcher == {}

    # events and metrics ---------------------------------------------------------------------
    def test_append_events_derives_records(self, store: Store) -> None:
        store.create_run(make_run("r1"))
        store.append_events(
            "r1",
            [
                metrics(1, loss=2.0, acc=0.1, note="text", flag=True, nothing=None, obj={"a": 1}),
                Event("progress", T0 + 2, 2, {"step": 2, "total": 10}),
                Event(
                    "checkpoint_saved",
                    T0 + 3,
                    2,
                    {"path": "ckpt/2.pt", "metrics": {"loss": 1.5}, "best": True},
                    session=1,
                ),
                Event("summary", T0 + 4, None, {"data": {"best_loss": 1.5}}),
                Event("alert", T0 + 5, None, {"level": "warning", "text": "hi"}),
                Event("my_custom_event", T0 + 6, None, {"x": 1}),
            ],
        )
        store.append_events(
            "r1",
            [
                metrics(3, loss=1.0),
                Event("summary", T0 + 7, None, {"data": {"epochs": 3}}),
                Event("done", T0 + 8),
            ],
        )
        run = store.get_run("r1")
        assert run.last_metrics == {"loss": 1.0, "acc": 0.1}
        assert run.last_step == 3
        assert run.summary == {"best_loss": 1.5, "epochs": 3}
        assert run.done is True
        assert run.checkpoint_count == 1
        (ckpt,) = store.checkpoints("r1")
        assert (ckpt.path, ckpt.step, ckpt.best, ckpt.metrics, ckpt.session) == (
            "ckpt/2.pt",
            2,
            True,
            {"loss": 1.5},
            1,
        )
        assert store.metric_keys("r1") == ["acc", "loss"]
        kinds = [e.event.kind for e in store.events("r1")]
        assert kinds == [
            "metrics",
            "progress",
            "checkpoint_saved",
            "summary",
            "alert",
            "my_custom_event",
            "metrics",
            "summary",
            "done",
        ]
        assert [e.seq for e in store.events("r1")] == list(range(1, 10))
        assert store.events("r1")[0].event.payload["data"]["note"] == "text"

    def test_events_filters(self, store: Store) -> None:
        store.create_run(make_run("r1"))
        store.append_events(
            "r1", [metrics(i, loss=float(i)) for i in range(5)] + [Event("done", T0)]
        )
        assert [e.seq for e in store.events("r1", after_seq=3)] == [4, 5, 6]
        assert [e.seq for e in store.events("r1", after_seq=1, limit=2)] == [2, 3]
        assert [e.event.kind for e in store.events("r1", kinds=["done"])] == ["done"]
        assert store.events("r1", kinds=[]) == []

    def test_node_tool_metrics_form(self, store: Store) -> None:
        store.create_run(make_run("r1"))
        store.append_events("r1", [Event("metrics", T0, 7, {"step": 7, "loss": 0.25})])
        series = store.metric_series("r1", "loss")
        assert (series.steps, series.values) == ([7], [0.25])

    def test_non_finite_values_round_trip(self, store: Store) -> None:
        store.create_run(make_run("r1"))
        store.append_events(
            "r1",
            [
                metrics(1, loss=float("nan")),
                metrics(2, loss=float("inf")),
                metrics(3, loss=float("-inf")),
                metrics(4, loss="NaN"),
                metrics(5, loss="Infinity"),
                metrics(6, loss="-Infinity"),
                metrics(7, loss=0.5),
            ],
        )
        values = store.metric_series("r1", "loss").values
        expected = [math.nan, math.inf, -math.inf, math.nan, math.inf, -math.inf, 0.5]
        assert len(values) == 7 and all(map(same_float, values, expected))
        store.append_events("r1", [metrics(8, loss=float("nan"))])
        assert math.isnan(store.get_run("r1").last_metrics["loss"])

    def test_metric_series_order_steps_times_and_after_step(self, store: Store) -> None:
        store.create_run(make_run("r1"))
        store.append_events("r1", [metrics(i, loss=10.0 - i) for i in range(10)])
        series = store.metric_series("r1", "loss")
        assert series.steps == list(range(10)) and series.total == 10
        assert series.times == [T0 + i for i in range(10)]
        tail = store.metric_series("r1", "loss", after_step=6)
        assert tail.steps == [7, 8, 9]
        assert store.metric_series("r1", "missing").total == 0

    def test_downsampling_keeps_spikes_first_and_last(self, store: Store) -> None:
        store.create_run(make_run("r1"))
        n = 20_000
        values = [math.sin(i / 50) for i in range(n)]
        values[12_345] = 1e6
        values[3_333] = -1e6
        values[7_777] = float("nan")
        values[15_000] = float("inf")
        batch = [metrics(i, loss=v) for i, v in enumerate(values)]
        for start in range(0, n, 5_000):
            store.append_events("r1", batch[start : start + 5_000])
        series = store.metric_series("r1", "loss", max_points=500)
        assert len(series) <= 500 and series.total == n
        assert series.steps[0] == 0 and series.steps[-1] == n - 1
        assert series.steps == sorted(s for s in series.steps if s is not None)
        kept = dict(zip(series.steps, series.values))
        assert kept[12_345] == 1e6 and kept[3_333] == -1e6 and kept[15_000] == math.inf
        assert math.isnan(kept[7_777])
        assert max(v for v in series.values if math.isfinite(v)) == 1e6

    def test_checkpoints_order_and_delete(self, store: Store) -> None:
        store.create_run(make_run("r1"))
        store.append_events(
            "r1", [Event("checkpoint_saved", T0 + i, i, {"path": f"c{i}.pt"}) for i in range(4)]
        )
        store.append_events("r1", [Event("checkpoint_saved", T0, None, {})])  # no path: ignored
        assert [c.path for c in store.checkpoints("r1")] == ["c0.pt", "c1.pt", "c2.pt", "c3.pt"]
        store.delete_checkpoints("r1", ["c0.pt", "c2.pt"])
        assert [c.path for c in store.checkpoints("r1")] == ["c1.pt", "c3.pt"]
        assert store.get_run("r1").checkpoint_count == 2

    def test_a_checkpoint_recorded_again_moves_its_record_forward(self, store: Store) -> None:
        from backprop_core.events.file_identity import FileIdentity

        store.create_run(make_run("r1"))
        found = {"path": "/w/ckpt.pt", "found_by": "checkpoints"}
        for i, size in enumerate((10, 20, 30)):
            file = FileIdentity("/w/ckpt.pt", 1, 7, size, i)
            payload = {**found, "step": 10 * (i + 1)}
            store.append_events("r1", [Event("checkpoint_saved", T0 + i, None, payload, file=file)])
        store.append_events("r1", [Event("checkpoint_saved", T0 + 5, 5, {"path": "a.pt"})])
        records = store.checkpoints("r1")
        assert [c.path for c in records] == ["/w/ckpt.pt", "a.pt"]
        latest = records[0]
        assert latest.step == 30 and latest.found_by == "checkpoints"
        assert latest.file is not None and latest.file.size == 30
        assert records[1].found_by is None
        assert store.get_run("r1").checkpoint_count == 2

    def test_active_runs_and_check_writable(self, store: Store) -> None:
        store.create_run(make_run("a", status=RunStatus.QUEUED))
        store.create_run(make_run("b", status=RunStatus.COMPLETED))
        assert [r.id for r in store.active_runs()] == ["a"]
        store.check_writable()

    def test_a_second_instance_sees_the_writes(self, store: Store) -> None:
        store.create_run(make_run("r1", name="shared"))
        assert store.get_run("r1").last_metrics == {}  # the first object has read it once
        other = type(store)(store.home.root)
        try:
            assert other.resolve("shared").id == "r1"
            for i in range(20):  # many quick writes: no stale read in between
                other.append_events("r1", [metrics(i, loss=float(i))])
                assert store.get_run("r1").last_metrics == {"loss": float(i)}
            other.update_run("r1", name="renamed")
        finally:
            other.close()
        assert store.resolve("renamed").last_metrics == {"loss": 19.0}
        changed = store.get_run("r1")
        changed.tags["mutated"] = "by the caller"  # records handed out are copies
        assert store.get_run("r1").tags == {}

    def test_reading_is_quick_enough_to_list(self, store: Store) -> None:
        for i in range(200):
            store.create_run(make_run(f"r{i:03d}", created=T0 + i))
        started = time.perf_counter()
        assert len(store.list_runs(RunFilter(limit=50))) == 50
        assert time.perf_counter() - started < 2.0
