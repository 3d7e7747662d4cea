"""The JSON parser's batch hook (``backprop_parse_lines``) gives exactly what its line parser
gives, and says which lines were events."""

from __future__ import annotations

import json

from backprop_core.events.event import Event, ParseContext
from backprop_core.events.ingest import MetricLines, expand
from backprop_json_events import parse_line
from backprop_json_events.batch import parse_chunk

CONTEXT = ParseContext("r1", 2, "stdout", ".")
PROGRESS = b'{"event": "progress", "step": 500, "total": 1000}'

LINES: list[bytes] = [
    b'{"event": "metrics", "step": 1, "data": {"loss": 0.5, "acc": 1}}',
    b'{"event":"metrics","step":2,"data":{"loss":NaN,"grad":Infinity}}',
    b'  {"event": "metrics", "data": {"loss": 0.25}}  \r',
    b'{"event": "metrics", "step": 3, "time": 12.5, "data": {"loss": 0.1}}',
    b'{"event": "metrics", "step": 3, "\\u0074ime": 12.5, "data": {"loss": 0.1}}',
    b'{"event": "metrics", "step": 3, "time": 13, "data": {"loss": 0.1}}',
    b'{"event": "metrics", "step": 3, "time": 1e999, "data": {"loss": 0.1}}',
    b'{"event": "metrics", "step": 3, "time": NaN, "data": {"loss": 0.1}}',
    b'{"event": "metrics", "step": 3, "time": true, "data": {"loss": 0.1}}',
    b'{"event": "metrics", "step": 3, "time": null, "data": {"loss": 0.1}}',
    b'{"event": "metrics", "step": 3, "time": "noon", "data": {"loss": 0.1}}',
    b'{"event": "metrics", "step": 3, "time": 1' + b"0" * 400 + b', "data": {"loss": 0.1}}',
    b'{"event": "metrics", "step": 4, "data": {"loss": "0.3", "ok": true, "n": null}}',
    b'{"event": "metrics", "step": 4.0, "data": {"loss": 0.3}}',
    b'{"event": "metrics", "step": true, "data": {"loss": 0.3}}',
    b'{"event": "metrics", "step": 5, "data": {"big": 1' + b"0" * 400 + b"}}",
    b'{"step": 6, "loss": 0.5, "lr": 0.1}',
    b'{"event": "checkpoint_saved", "step": 6, "path": "ckpt/6.pt"}',
    b'{"event": "checkpoint_saved", "step": 6}',
    b'{"event": "my_custom_event", "x": [1, 2, 3]}',
    b'{"event": "metrics", "step": 7, "data": {"loss": [',
    b"{}]}}",
    b'{"event": "metrics", "step": 8, "data": {"loss": 0.2}}, {"event": "done"}',
    b'{"event": "metrics", "step": 9, "data": {"note": "\xff\xfe invalid utf-8"}}',
    b'{"a": "unterminated',
    b'{"}',
    b"{not json at all",
    b'{"event": 5}',
    b'{"event": "alert", "text": "hot"}',
    b'{"event": "metrics", "step": 10, "data": {"loss": 1e999}}',
    b'{"event": "metrics", "step": 11, "data": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001,
    b'{"event": "done"}',
]


def _per_line(lines: list[bytes]) -> list[Event]:
    out = []
    for raw in lines:
        event = parse_line(raw.decode("utf-8", "replace"), CONTEXT)
        if event is not None:
            out.append(event)
    return out


def _chunk(lines: list[bytes]) -> list[Event | MetricLines]:
    parsed = parse_chunk(lines, CONTEXT)
    return [] if parsed is None else parsed.items


def _comparable(events: list[Event]) -> list[tuple[object, ...]]:
    """Events without their receive time (each parser reads the clock itself); payloads as
    JSON text so that NaN compares equal to NaN."""
    return [
        (e.kind, e.step, e.session, json.dumps(dict(e.payload), sort_keys=True)) for e in events
    ]


def test_chunk_parser_matches_the_line_parser_on_every_kind_of_line() -> None:
    expected = _per_line(LINES)
    got = expand(_chunk(LINES))
    assert _comparable(got) == _comparable(expected)
    assert len(got) > 10
    # A "time" field is honoured the same way; one that is not a finite number means "now".
    times = [e.time for e in got if e.step == 3]
    assert times[:3] == [12.5, 12.5, 13.0]
    assert all(t > 1e9 for t in times[3:])
    assert [e.time for e in expected if e.step == 3][:3] == times[:3]


def test_plain_metrics_lines_are_kept_in_columns() -> None:
    lines = [
        json.dumps({"event": "metrics", "step": i, "data": {"loss": 1.0 / (i + 1)}}).encode()
        for i in range(1000)
    ]
    items = _chunk([*lines[:500], PROGRESS, *lines[500:]])
    assert [type(i).__name__ for i in items] == ["MetricLines", "Event", "MetricLines"]
    first = items[0]
    assert isinstance(first, MetricLines)
    assert len(first) == 500 and first.steps[:3] == [0, 1, 2]
    assert first.texts[7] == lines[7].decode()
    assert first.non_finite() == []
    assert _comparable(expand(items)) == _comparable(
        _per_line([*lines[:500], PROGRESS, *lines[500:]])
    )


def test_sdk_lines_with_their_own_time_stay_in_columns() -> None:
    from backprop_core.sdk.writer import _line  # exactly what the SDK writes on the pipe

    records = [
        ("metrics", 1_700_000_000.0 + i / 10, i, {"loss": 1.0 / (i + 1)}) for i in range(300)
    ]
    lines = [_line(*r).encode() for r in records]
    for mixed in (lines, [*lines[:100], PROGRESS, *lines[100:]]):
        items = _chunk(mixed)
        runs = [i for i in items if isinstance(i, MetricLines)]
        assert sum(map(len, runs)) == 300
        assert [t for r in runs for t in r.times] == [r[1] for r in records]
        assert _comparable(expand(items)) == _comparable(_per_line(mixed))


def test_a_value_spread_over_lines_is_never_glued_together() -> None:
    # Joined naively, these two lines would form one valid object; each alone is invalid.
    lines = [b'{"event": "metrics", "data": {"loss": [{}', b"{}]}}", b'{"x": 1}, {"y": 2}']
    assert _chunk(lines) == []
    assert _per_line(lines) == []
    strings = [b'{"event": "alert", "text": "a', b'{"}']
    assert _chunk(strings) == [] == _per_line(strings)


def test_non_finite_values_are_found() -> None:
    lines = [
        b'{"event": "metrics", "step": 1, "data": {"loss": 0.5}}',
        b'{"event": "metrics", "step": 2, "data": {"loss": NaN}}',
        b'{"event": "metrics", "step": 3, "data": {"loss": 0.5, "g": -Infinity}}',
    ]
    (item,) = _chunk(lines)
    assert isinstance(item, MetricLines)
    assert item.non_finite() == [1, 2]


def test_the_lines_that_were_events_are_named_and_plain_text_is_left_alone() -> None:
    lines = [
        b"iter 1: loss 0.5",
        b'{"event": "metrics", "step": 1, "data": {"loss": 0.5}}',
        b"{'loss': 0.5, 'epoch': 1.0}",
        b'  {"event": "done"}',
        b'{"lr": 0.1, "momentum": 0.9}',
    ]
    parsed = parse_chunk(lines, CONTEXT)
    assert parsed is not None
    assert list(parsed.claimed or []) == [1, 3]
    assert parse_chunk([b"plain", b"text 1/2"], CONTEXT) is None
    every = parse_chunk([lines[1], lines[1]], CONTEXT)
    assert every is not None and every.claimed is None  # all of them, counted at C speed
