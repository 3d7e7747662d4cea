"""``append_batch`` with hot-path metrics in columns records exactly what ``append_events``
records for the same events, in every store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backprop_core.events.event import Event
from backprop_core.events.ingest import MetricLines, expand
from backprop_core.plugin.manager import get_plugins
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus

STORES = ["sqlite", "json"]


def _lines(start: int, n: int, extra: str = "") -> MetricLines:
    lines = MetricLines(session=1)
    for i in range(start, start + n):
        data: dict[str, float | int] = {"loss": 1.0 / (i + 1), "epoch": i // 10}
        text = f'{{"event": "metrics", "step": {i}, "data": {json.dumps(data)}{extra}}}'
        lines.steps.append(i)
        lines.data.append(data)
        lines.texts.append(text)
    lines.times = [100.0 + start] * n
    return lines


def _floats(payload: object) -> object:
    """Metric values as numbers: the line as printed may say ``1`` where a parsed event holds
    ``1.0`` (equal values; only their JSON text differs)."""
    if isinstance(payload, dict):
        return {k: _floats(v) for k, v in payload.items()}
    if isinstance(payload, int) and not isinstance(payload, bool):
        return float(payload)
    return payload


def _mixed_keys() -> MetricLines:
    data: list[dict[str, float | int]] = [{"loss": 3.0}, {"acc": 1}, {"loss": 2.5, "acc": 0.75}]
    lines = MetricLines(session=1, times=[350.0] * 3, steps=[200, 201, 202], data=data)
    lines.texts = [
        f'{{"event": "metrics", "step": {s}, "data": {json.dumps(d)}}}'
        for s, d in zip(lines.steps, data)
    ]
    return lines


def _record(store: Store) -> tuple[object, ...]:
    run = store.get_run("r1")
    events = [
        (
            e.seq,
            e.event.kind,
            e.event.time,
            e.event.step,
            e.event.session,
            _floats(dict(e.event.payload)),
        )
        for e in store.events("r1")
    ]
    series = {k: store.metric_series("r1", k) for k in store.metric_keys("r1")}
    return (
        json.dumps(events, sort_keys=True),
        {k: (s.steps, s.times, json.dumps(s.values)) for k, s in series.items()},
        run.last_metrics,
        run.last_step,
        run.done,
        [c.path for c in store.checkpoints("r1")],
    )


@pytest.mark.parametrize("store_name", STORES)
def test_append_batch_records_what_append_events_records(store_name: str, tmp_path: Path) -> None:
    nan = MetricLines(session=1, times=[300.0], steps=[None], data=[{"loss": float("nan")}])
    nan.texts = ['{"event": "metrics", "data": {"loss": NaN}}']
    batches: list[list[Event | MetricLines]] = [
        [_lines(0, 50), Event("progress", 150.0, 50, {"step": 50, "total": 100}), _lines(50, 25)],
        [
            Event("checkpoint_saved", 200.0, 74, {"step": 74, "path": "ckpt/74.pt"}, session=1),
            nan,
            _lines(75, 25, extra=', "note": "x"'),
            _mixed_keys(),
            Event("done", 400.0, None, {}, session=1),
        ],
    ]
    columns = get_plugins().store_class(store_name)(tmp_path / "columns")
    plain = get_plugins().store_class(store_name)(tmp_path / "plain")
    for store in (columns, plain):
        store.create_run(RunRecord(id="r1", status=RunStatus.RUNNING, created_at=0.0))
    for batch in batches:
        columns.append_batch("r1", batch)
        plain.append_events("r1", expand(batch))
    got, expected = _record(columns), _record(plain)
    assert got == expected
    assert len(columns.events("r1")) == 107
    loss = columns.metric_series("r1", "loss")
    assert len(loss) == 103 and loss.values[75] != loss.values[75]  # NaN kept
    assert loss.values[-2:] == [3.0, 2.5]
    assert columns.metric_series("r1", "acc").values == [1.0, 0.75]
    assert columns.get_run("r1").last_metrics == {"loss": 2.5, "epoch": 9.0, "acc": 0.75}
    assert columns.events("r1", after_seq=1, limit=1)[0].event.payload == {
        "step": 1,
        "data": {"loss": 0.5, "epoch": 0},
    }


def _copied_lines(steps: list[int | None]) -> MetricLines:
    """Metrics events as a pull copies them: each with its own time, compact JSON text."""
    times = [1_796_115_369.92371 + i * 0.1 for i in range(len(steps))]  # not round in binary
    data: list[dict[str, float | int]] = [
        {"loss": 0.1 + 0.2 * i, "n": i} for i in range(len(steps))
    ]
    texts = [json.dumps({"data": d}, separators=(",", ":")) for d in data]
    return MetricLines(session=1, times=times, steps=steps, data=data, texts=texts)


@pytest.mark.parametrize("store_name", STORES)
@pytest.mark.parametrize(
    "steps", [list(range(40)), [3, 1, 4, 1, 5, 9, 2, 6], [None, 2, None, 7]], ids=str
)
def test_metric_lines_with_their_own_times_keep_every_time_and_step_to_the_bit(
    store_name: str, steps: list[int | None], tmp_path: Path
) -> None:
    columns = get_plugins().store_class(store_name)(tmp_path / "columns")
    plain = get_plugins().store_class(store_name)(tmp_path / "plain")
    for store in (columns, plain):
        store.create_run(RunRecord(id="r1", status=RunStatus.RUNNING, created_at=0.0))
    lines = _copied_lines(steps)
    columns.append_batch("r1", [lines, Event("done", 400.0, None, {}, session=1)])
    plain.append_events("r1", [*expand([lines]), Event("done", 400.0, None, {}, session=1)])
    assert _record(columns) == _record(plain)
    stored = columns.events("r1")
    assert [e.event.time for e in stored[:-1]] == lines.times
    assert [e.event.step for e in stored[:-1]] == steps
    assert [e.event.payload for e in stored[:-1]] == [{"data": d} for d in lines.data]
