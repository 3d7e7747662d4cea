"""Metric points read from printed lines (``MetricColumns``): every store keeps every point
exactly, in a few small stored events per run of lines instead of one per line, and a store
that only implements ``append_events`` records the same."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from backprop_core.events.columns import PIECE_BYTES, MetricColumns, columns_of
from backprop_core.events.event import Event
from backprop_core.events.ingest import Item, stored_events
from backprop_core.plugin.manager import get_plugins
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord

STORES = ["sqlite", "json"]


def _printed(start: int, n: int, time: float) -> MetricColumns:
    steps: list[int | None] = list(range(start, start + n))
    data = {
        "loss": [1.0 / (i + 1) for i in range(start, start + n)],
        "time_ms": [float(i % 7) for i in range(start, start + n)],
    }
    return MetricColumns(1, time, steps, data)


def _batches() -> list[list[Item]]:
    nan = MetricColumns(1, 300.0, [None, None], {"loss": [math.nan, 0.5], "time_ms": [1.0, 2.0]})
    return [
        [_printed(0, 5000, 100.0), Event("progress", 150.0, 5000, {"step": 5000, "total": 9})],
        [
            nan,
            _printed(5000, 3000, 400.0),
            MetricColumns(1, 500.0, [9000], {"val_loss": [0.25]}),
        ],
    ]


def _open(name: str, root: Path) -> Store:
    store = get_plugins().store_class(name)(root)
    store.create_run(RunRecord(id="r1", status=RunStatus.RUNNING, created_at=0.0))
    return store


def _series(store: Store) -> dict[str, str]:
    out = {}
    for key in store.metric_keys("r1"):
        s = store.metric_series("r1", key)
        out[key] = json.dumps([s.steps, s.times, s.values])  # NaN compares as text
    return out


def _events(store: Store) -> list[tuple[int, str, str]]:
    return [(e.seq, e.event.kind, json.dumps(dict(e.event.payload))) for e in store.events("r1")]


@pytest.mark.parametrize("store_name", STORES)
def test_printed_lines_keep_every_point_in_a_few_small_events(
    store_name: str, tmp_path: Path
) -> None:
    store = _open(store_name, tmp_path / "columns")
    for batch in _batches():
        store.append_batch("r1", batch)
    loss = store.metric_series("r1", "loss")
    assert len(loss) == 8002
    assert loss.steps[:3] == [0, 1, 2] and loss.values[:3] == [1.0, 0.5, 1.0 / 3]
    assert loss.steps[5000:5003] == [None, None, 5000]
    assert math.isnan(loss.values[5000]) and loss.values[5001] == 0.5
    assert loss.times[4999:5001] == [100.0, 300.0]
    assert store.metric_series("r1", "val_loss").values == [0.25]
    run = store.get_run("r1")
    assert run.last_step == 9000
    assert run.last_metrics == {"loss": 1.0 / 8000, "time_ms": float(7999 % 7), "val_loss": 0.25}
    # A few small events per run of lines, holding its points as columns; not one per line.
    events = store.events("r1")
    kinds = [e.event.kind for e in events]
    progress = kinds.index("progress")
    assert set(kinds) == {"metrics", "progress"} and kinds.count("progress") == 1
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len(events) < 8002 / 20
    pieces = []
    for e in events:
        if e.event.kind != "metrics":
            continue
        assert len(json.dumps(dict(e.event.payload), separators=(",", ":"))) < 2 * PIECE_BYTES
        found = columns_of(e.event)
        assert found is not None
        steps, data = found
        assert e.event.step == next((s for s in reversed(steps) if s is not None), None)
        pieces.append((steps, data))
    first = [s for steps, _ in pieces[:progress] for s in steps]
    assert first == list(range(5000))  # the first run of lines, before the progress event
    after = [s for steps, _ in pieces[progress:] for s in steps]
    assert after == [None, None, *range(5000, 8000), 9000]
    loss = [v for _, data in pieces[progress:] for v in data.get("loss", [])]
    assert loss[2] == 1.0 / 5001


@pytest.mark.parametrize("store_name", STORES)
def test_a_store_with_append_events_only_records_the_same(store_name: str, tmp_path: Path) -> None:
    columns = _open(store_name, tmp_path / "columns")
    plain = _open(store_name, tmp_path / "plain")
    for batch in _batches():
        columns.append_batch("r1", batch)
        plain.append_events("r1", stored_events(batch))  # what the contract's default does
    assert _series(columns) == _series(plain)
    assert columns.get_run("r1").last_metrics == plain.get_run("r1").last_metrics
    assert columns.get_run("r1").last_step == plain.get_run("r1").last_step == 9000
    assert _events(columns) == _events(plain)


def test_a_stored_run_that_is_not_columns_gives_no_points(tmp_path: Path) -> None:
    store = _open("sqlite", tmp_path)
    broken = {"source": "output", "steps": [1, 2], "data": {"loss": [0.5], "acc": [0.5, "x"]}}
    store.append_events("r1", [Event("metrics", 1.0, 2, broken, 1)])
    assert store.metric_keys("r1") == ["acc"]  # a column of the wrong length is no metric
    acc = store.metric_series("r1", "acc")
    assert acc.steps == [1] and acc.values == [0.5]  # a value that is no number is no point


def test_a_scripts_own_metrics_event_with_a_steps_field_keeps_its_points(tmp_path: Path) -> None:
    store = _open("sqlite", tmp_path)
    own = {"source": "output", "steps": [1, 2], "step": 2, "data": {"loss": 0.5}}
    store.append_events("r1", [Event("metrics", 1.0, 2, own, 1)])
    loss = store.metric_series("r1", "loss")
    assert loss.steps == [2] and loss.values == [0.5]


def _sessions(store: Store, *numbers: int) -> None:
    for number in numbers:
        store.add_session(SessionRecord("r1", number, RunStatus.RUNNING, started_at=float(number)))


@pytest.mark.parametrize("store_name", STORES)
@pytest.mark.parametrize("path", ["append_batch", "append_events"])
def test_printed_lines_carry_their_session_and_a_later_one_supersedes(
    store_name: str, path: str, tmp_path: Path
) -> None:
    store = _open(store_name, tmp_path)
    _sessions(store, 1, 2)
    first = MetricColumns(1, 10.0, list(range(100)), {"loss": [float(i) for i in range(100)]})
    # A resumed session that went back to step 50 (a checkpoint) and prints from there.
    second = MetricColumns(2, 20.0, list(range(50, 60)), {"loss": [-1.0] * 10})
    for batch in ([first], [second]):
        if path == "append_batch":
            store.append_batch("r1", batch)
        else:  # the stored events, as a pull or a copy hands them over
            store.append_events("r1", stored_events(batch))
    sessions = {s.number: s for s in store.sessions("r1")}
    assert (sessions[1].first_step, sessions[1].last_step) == (0, 99)
    assert (sessions[2].first_step, sessions[2].last_step) == (50, 59)
    loss = store.metric_series("r1", "loss")
    assert loss.steps == [*range(50), *range(50, 60)]
    assert loss.sessions == [1] * 50 + [2] * 10
    every = store.metric_series("r1", "loss", all_sessions=True)
    assert len(every) == 110 and every.sessions == [1] * 100 + [2] * 10
    assert store.get_run("r1").last_metrics == {"loss": -1.0}


@pytest.mark.parametrize("store_name", STORES)
def test_a_printed_step_no_store_can_keep_is_dropped_with_an_alert(
    store_name: str, tmp_path: Path
) -> None:
    store = _open(store_name, tmp_path)
    huge = MetricColumns(1, 5.0, [1, 2**70, 3], {"loss": [0.5, 0.4, 0.3]})
    store.append_batch("r1", [huge])
    loss = store.metric_series("r1", "loss")
    assert loss.steps == [1, None, 3] and loss.values == [0.5, 0.4, 0.3]
    events = [e.event for e in store.events("r1")]
    assert [e.kind for e in events] == ["metrics", "alert"]
    assert "64-bit" in events[1].payload["text"] and str(2**70) in events[1].payload["text"]
    assert columns_of(events[0]) == ([1, None, 3], {"loss": [0.5, 0.4, 0.3]})
