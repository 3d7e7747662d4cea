"""Store contract: run marks (what ``pull`` compares), and sessions that rewind. A resumed
session that starts over at an earlier step than its predecessor reached supersedes the
predecessor's later points: they stay stored, but series, ``last_metrics`` and ``last_step``
leave them out unless all sessions are asked for."""

from __future__ import annotations

import math

from backprop_core.store.contract import Store
from backprop_core.store.records import LOCAL_ORIGIN, RunStatus, SessionRecord
from backprop_core.testing.builders import T0, make_run, metrics


class SessionsContract:
    def test_run_marks_tell_each_run_of_an_origin_as_stored(self, store: Store) -> None:
        for run_id, count, created in (("r1", 2, T0), ("r2", 0, T0 + 2), ("r3", 3, T0 + 1)):
            store.create_run(make_run(run_id, created))
            for number in range(count, 0, -1):  # added out of order
                store.add_session(SessionRecord(run_id, number, RunStatus.RUNNING, T0 + number))
        store.update_run("r1", status=RunStatus.COMPLETED)
        store.append_events("r3", [metrics(i, loss=1.0 / (i + 1)) for i in range(5)])
        store.create_run(make_run("pulled", T0 + 3, origin="gpu-box"))
        marks = store.run_marks(LOCAL_ORIGIN)
        assert [m.id for m in marks] == ["r2", "r3", "r1"]  # newest first, as list_runs
        by_id = {m.id: m for m in marks}
        assert by_id["r1"].status == RunStatus.COMPLETED and by_id["r3"].status == "running"
        assert by_id["r3"].sessions == (1, 2, 3) and by_id["r2"].sessions == ()
        assert by_id["r3"].event_seq == store.last_event_seq("r3") > 0
        assert by_id["r2"].event_seq == 0
        assert [m.id for m in store.run_marks("gpu-box")] == ["pulled"]
        assert store.run_marks("elsewhere") == []
        assert type(store)(store.home.root).run_marks(LOCAL_ORIGIN) == marks  # another process

    def test_a_run_mark_changes_with_the_run_or_any_of_its_sessions(self, store: Store) -> None:
        store.create_run(make_run("r1"))
        store.create_run(make_run("other", T0 + 1))
        store.add_session(SessionRecord("r1", 1, RunStatus.RUNNING, T0))

        def mark() -> str:
            return next(m.mark for m in store.run_marks(LOCAL_ORIGIN) if m.id == "r1")

        seen = [mark()]
        assert mark() == seen[0]  # nothing changed: the same mark
        for change in (
            lambda: store.update_run("r1", tags={"lr": "0.1"}),
            lambda: store.beat("r1", 1, T0 + 30),
            lambda: store.update_session("r1", 1, first_step=3),
            lambda: store.append_events("r1", [metrics(3, loss=0.5)]),
            lambda: store.add_session(SessionRecord("r1", 2, RunStatus.RUNNING, T0 + 60)),
            lambda: store.update_session("r1", 2, status=RunStatus.COMPLETED),
        ):
            others = [m.mark for m in store.run_marks(LOCAL_ORIGIN) if m.id == "other"]
            change()
            assert mark() not in seen, change
            seen.append(mark())
            assert [m.mark for m in store.run_marks(LOCAL_ORIGIN) if m.id == "other"] == others

    def _rewound(self, store: Store, resumed_step: int | None = 500) -> None:
        """Session 1 logs steps 0-545 (val_loss every 20); session 2 resumes from a checkpoint
        at step 500 and logs 501-510 (no val_loss yet)."""
        store.create_run(make_run("r1"))
        store.add_session(SessionRecord("r1", 1, RunStatus.TIMEBOXED, T0))
        first = [metrics(i, loss=1000.0 - i) for i in range(546)]
        first += [metrics(i, val_loss=float(i)) for i in range(0, 546, 20)]
        store.append_events("r1", first)
        store.add_session(
            SessionRecord("r1", 2, RunStatus.RUNNING, T0 + 600, resumed_step=resumed_step)
        )
        store.append_events("r1", [metrics(i, session=2, loss=-float(i)) for i in range(501, 511)])

    def test_sessions_record_the_steps_they_logged(self, store: Store) -> None:
        self._rewound(store)
        one, two = store.sessions("r1")
        assert (one.first_step, one.last_step) == (0, 540)  # val_loss at 540 came last
        assert (two.first_step, two.last_step, two.resumed_step) == (501, 510, 500)

    def test_a_resumed_session_supersedes_the_steps_it_repeats(self, store: Store) -> None:
        self._rewound(store)
        loss = store.metric_series("r1", "loss")
        assert loss.steps == [*range(501), *range(501, 511)]
        assert loss.sessions == [1] * 501 + [2] * 10
        assert loss.total == 511 and loss.values[-1] == -510.0
        val = store.metric_series("r1", "val_loss")
        assert val.steps == list(range(0, 501, 20))  # 520 and 540 are superseded
        run = store.get_run("r1")
        assert run.last_step == 510
        assert run.last_metrics == {"loss": -510.0, "val_loss": 500.0}

    def test_all_sessions_keeps_the_superseded_points(self, store: Store) -> None:
        self._rewound(store)
        loss = store.metric_series("r1", "loss", all_sessions=True)
        assert loss.steps == [*range(546), *range(501, 511)]
        assert loss.sessions == [1] * 546 + [2] * 10
        assert store.metric_series("r1", "val_loss", all_sessions=True).steps[-1] == 540
        assert len(store.events("r1", kinds=["metrics"])) == 546 + 28 + 10

    def test_the_first_step_logged_bounds_a_session_without_checkpoint_step(
        self, store: Store
    ) -> None:
        self._rewound(store, resumed_step=None)
        assert store.metric_series("r1", "loss").steps == [*range(501), *range(501, 511)]
        # A session that starts over from scratch supersedes everything before it.
        store.add_session(SessionRecord("r1", 3, RunStatus.RUNNING, T0 + 900))
        store.append_events("r1", [metrics(0, session=3, loss=7.0)])
        assert store.metric_series("r1", "loss").steps == [0]
        assert store.metric_series("r1", "val_loss").total == 0
        run = store.get_run("r1")
        assert run.last_metrics == {"loss": 7.0} and run.last_step == 0

    def test_a_session_that_continues_supersedes_nothing(self, store: Store) -> None:
        store.create_run(make_run("r1"))
        store.add_session(SessionRecord("r1", 1, RunStatus.TIMEBOXED, T0))
        store.append_events("r1", [metrics(i, loss=float(i)) for i in range(10)])
        store.add_session(SessionRecord("r1", 2, RunStatus.RUNNING, T0 + 60, resumed_step=9))
        store.append_events("r1", [metrics(i, session=2, loss=float(i)) for i in range(10, 15)])
        series = store.metric_series("r1", "loss")
        assert series.steps == list(range(15)) and series.sessions == [1] * 10 + [2] * 5

    def test_points_without_a_step_are_never_superseded(self, store: Store) -> None:
        store.create_run(make_run("r1"))
        store.add_session(SessionRecord("r1", 1, RunStatus.TIMEBOXED, T0))
        store.append_events("r1", [metrics(5, loss=1.0), metrics(None, 1, **{"sys/cpu_pct": 50.0})])
        store.add_session(SessionRecord("r1", 2, RunStatus.RUNNING, T0 + 60))
        store.append_events("r1", [metrics(0, session=2, loss=2.0)])
        assert store.metric_series("r1", "sys/cpu_pct").values == [50.0]
        assert store.get_run("r1").last_metrics == {"loss": 2.0, "sys/cpu_pct": 50.0}

    def test_downsampling_leaves_superseded_spikes_out(self, store: Store) -> None:
        store.create_run(make_run("r1"))
        store.add_session(SessionRecord("r1", 1, RunStatus.TIMEBOXED, T0))
        n = 20_000
        values = [math.sin(i / 50) for i in range(n)]
        values[19_000] = 1e9  # logged by session 1, then superseded
        values[4_000] = -1e6
        batch = [metrics(i, loss=v) for i, v in enumerate(values)]
        for start in range(0, n, 5_000):
            store.append_events("r1", batch[start : start + 5_000])
        store.add_session(SessionRecord("r1", 2, RunStatus.RUNNING, T0 + 1e5))
        store.append_events("r1", [metrics(i, session=2, loss=0.5) for i in range(15_000, 16_000)])
        series = store.metric_series("r1", "loss", max_points=500)
        assert len(series) <= 500 and series.total == 16_000
        assert series.steps[0] == 0 and series.steps[-1] == 15_999
        assert 1e9 not in series.values and -1e6 in series.values
        assert series.sessions[0] == 1 and series.sessions[-1] == 2
        everything = store.metric_series("r1", "loss", max_points=500, all_sessions=True)
        assert everything.total == 21_000 and 1e9 in everything.values
