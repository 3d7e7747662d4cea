"""Downsampling, event digestion and run ids, checked against simple references."""

from __future__ import annotations

import math
import random
import re
import time
from pathlib import Path

import pytest

from backprop_core.events.event import Event
from backprop_core.events.ingest import as_number, digest
from backprop_core.plugin.manager import get_plugins
from backprop_core.store.ids import new_run_id
from backprop_core.store.records import RunRecord, RunStatus
from backprop_core.store.series import Point, downsample, plan


def _same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all((x != x and y != y) or x == y for x, y in zip(a, b))


def _values(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    values = [float(rng.randint(0, 50)) for _ in range(n)]  # many ties on purpose
    for _ in range(max(1, n // 500)):
        values[rng.randrange(n)] = rng.choice([math.nan, math.inf, -math.inf, 1e9, -1e9])
    return values


@pytest.mark.parametrize(
    "n, max_points", [(10, 100), (3_000, 200), (50_000, 300), (200_000, 1_000)]
)
@pytest.mark.slow
def test_sqlite_and_python_downsampling_agree(n: int, max_points: int, tmp_path: Path) -> None:
    values = _values(n, seed=n)
    stores = [get_plugins().store_class(name)(tmp_path / name) for name in ("sqlite", "json")]
    for store in stores:
        store.create_run(RunRecord(id="r", status=RunStatus.RUNNING, created_at=0.0))
        for start in range(0, n, 7_919):  # batches that straddle tiles
            store.append_events(
                "r",
                [
                    Event("metrics", float(i), i, {"data": {"v": values[i]}})
                    for i in range(start, min(n, start + 7_919))
                ],
            )
    reference = downsample([(i, i, float(i), v) for i, v in enumerate(values)], max_points)
    for store in stores:
        series = store.metric_series("r", "v", max_points=max_points)
        assert series.steps == [p[1] for p in reference], store.name
        assert _same(series.values, [p[3] for p in reference]), store.name
        assert len(series) <= max_points and series.total == n


def test_every_spike_kind_survives_and_order_is_kept() -> None:
    n = 100_000
    values = [0.0] * n
    spikes = {10: 5.0, 20_000: math.nan, 40_000: math.inf, 60_000: -math.inf, 99_000: -3.0}
    for i, v in spikes.items():
        values[i] = v
    points: list[Point] = [(i, i, 0.0, v) for i, v in enumerate(values)]
    kept = downsample(points, 100)
    assert len(kept) <= 100
    assert [p[0] for p in kept] == sorted(p[0] for p in kept)
    got = {p[0]: p[3] for p in kept}
    for i, v in spikes.items():
        assert i in got and _same([got[i]], [v])
    assert 0 in got and n - 1 in got


def test_plan_stays_under_the_cap() -> None:
    for total in (5, 999, 1_000_001, 123_457):
        for cap in (3, 4, 10, 2_000):
            p = plan(total, cap)
            if p is not None:
                assert 2 * p.buckets + 2 <= cap or cap < 4


def test_numbers_only_become_points() -> None:
    assert as_number(1) == 1.0 and as_number(2.5) == 2.5
    assert math.isnan(as_number("NaN") or 0) and as_number("Infinity") == math.inf
    assert as_number("-Infinity") == -math.inf and as_number("-inf") == -math.inf
    for bad in (True, False, None, "1.5", "loss", {"a": 1}, [1]):
        assert as_number(bad) is None
    found = digest(
        "r",
        [
            Event("metrics", 1.0, 3, {"data": {"a": 1, "b": "x", "c": True, "d": None}}),
            Event("metrics", 2.0, None, {"step": 4, "loss": 0.5}),  # Node-tool form
            Event(
                "checkpoint_saved", 3.0, None, {"step": 4, "path": "p.pt", "metrics": {"l": "NaN"}}
            ),
        ],
    )
    assert {k: (c[2], c[0]) for k, c in found.columns.items()} == {
        "a": ([1.0], [3]),
        "loss": ([0.5], [4]),
    }
    assert found.last_step == 4 and found.checkpoints[0].step == 4
    assert math.isnan(found.checkpoints[0].metrics["l"])


def test_run_ids_sort_by_time_and_are_short() -> None:
    early = new_run_id(1_790_000_000.0)
    late = new_run_id(1_790_000_001.0)
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-z]{4}", early)
    assert early < late
    assert len({new_run_id() for _ in range(2_000)}) > 1_990
    assert new_run_id()[:8] == time.strftime("%Y%m%d", time.gmtime())


def _mixed_batch(seed: int) -> list[Event]:
    """Metrics events with varying keys, values, steps and sessions, and other events with
    steps between them."""
    rng = random.Random(seed)
    events: list[Event] = []
    session = 1
    for i in range(300):
        roll = rng.random()
        if roll < 0.05:
            session += 1
        step = None if rng.random() < 0.1 else i
        if roll < 0.15:
            kind = rng.choice(["checkpoint_saved", "summary", "alert"])
            events.append(Event(kind, float(i), step, {"path": f"c{i}.pt"}, session))
            continue
        keys = rng.sample(["loss", "acc", "lr"], rng.randint(0, 3))
        data: dict[str, object] = {k: rng.choice([rng.random(), 7, math.nan, "x"]) for k in keys}
        events.append(Event("metrics", float(i), step, {"data": data}, session))
    return events


@pytest.mark.parametrize("seed", range(5))
def test_a_batch_gives_the_points_and_steps_of_its_events_one_by_one(seed: int) -> None:
    events = _mixed_batch(seed)
    whole = digest("r", events)
    columns: dict[str, tuple[list[object], ...]] = {}
    sessions: dict[str, list[object]] = {}
    last_metrics: dict[str, float] = {}
    session_steps: dict[int, list[int]] = {}
    last_step = None
    for event in events:
        one = digest("r", [event])
        for key, cols in one.columns.items():
            mine = columns.setdefault(key, ([], [], []))
            for column, values in zip(mine, cols):
                column.extend(values)
            sessions.setdefault(key, []).extend([event.session] * len(cols[0]))
        last_metrics.update(one.last_metrics)
        for number, (first, last) in one.session_steps.items():
            session_steps.setdefault(number, [first, last])[1] = last
        last_step = one.last_step if one.last_step is not None else last_step
    assert list(whole.columns) == list(columns)
    for key, (steps, times, values) in whole.columns.items():
        assert (steps, times) == (columns[key][0], columns[key][1])
        assert _same(values, columns[key][2])  # type: ignore[arg-type]
        owners = [s for n, s in whole.segments[key] for _ in range(n)]
        assert owners == sessions[key]
    assert whole.session_steps == session_steps
    assert whole.last_step == last_step
    assert list(whole.last_metrics) == list(last_metrics)
    assert _same(list(whole.last_metrics.values()), list(last_metrics.values()))
