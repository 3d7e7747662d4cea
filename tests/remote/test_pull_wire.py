"""The pull's framing of events: columns in a JSON line, payloads as raw JSON after it."""

from __future__ import annotations

import fcntl
import io
import json
import math
import os
import sys

import pytest

from backprop_core.remote.pull_wire import (
    Events,
    encode,
    encode_events,
    read_messages,
    widen_pipe,
)

ROWS = [
    (1, "metrics", 1_796_115_369.92371, 0, 1, '{"data":{"loss":0.30000000000000004}}'),
    (2, "note", 1_796_115_370.1, None, None, '{"text": "naïve ✓ 日本語 \\" ,]"}'),
    (3, "metrics", 1_796_115_370.2, 2, 1, '{"data":{"loss":1.5,"big":123456789012345678901234}}'),
    (4, "params", 1_796_115_370.3, None, 1, '{"data":{"seed":-9223372036854775809}}'),
]
NAN = [(5, "metrics", 1_796_115_370.4, 3, 1, '{"data":{"loss":NaN}}')]


def _read(data: bytes) -> list[dict[str, object]]:
    return [message for message, _ in read_messages(io.BytesIO(data))]


def test_events_arrive_with_their_exact_texts_and_values() -> None:
    stream = encode({"run": {"id": "r"}}) + encode_events(ROWS) + encode_events(NAN)
    first, events, nan, last = _read(stream + encode({"end": "r"}))
    assert first == {"run": {"id": "r"}} and last == {"end": "r"}
    batch = events["events"]
    assert isinstance(batch, Events)
    got = list(batch.rows())
    assert [r[:6] for r in got] == [tuple(r) for r in ROWS]  # texts unchanged, to the byte
    payloads = [r[6] for r in got]
    assert payloads[1] == {"text": 'naïve ✓ 日本語 " ,]'}
    assert payloads[2]["data"]["big"] == 123456789012345678901234  # an int, not a float
    assert payloads[3] == json.loads(ROWS[3][5])
    (loss,) = [p["data"]["loss"] for p in nan["events"].payloads]
    assert loss != loss  # NaN, read as Python's json reads it


def test_long_integers_stay_exact_from_a_sender_that_does_not_say_where_they_are() -> None:
    line, blob = encode_events(ROWS).split(b"\n", 1)
    header = json.loads(line)["events"]
    assert header.pop("wide") is True
    assert json.loads(encode_events(ROWS[:2]).split(b"\n", 1)[0])["events"]["wide"] is False
    older = encode({"events": header}) + blob  # as a sender from before "wide" sends it
    (events,) = _read(older)
    payloads = events["events"].payloads
    assert payloads[2]["data"]["big"] == 123456789012345678901234
    assert payloads[3]["data"]["seed"] == -9223372036854775809


def test_columns_beyond_what_orjson_writes_still_arrive_exactly() -> None:
    rows = [
        (1, "metrics", float("inf"), 2**70, 1, "{}"),
        (2, "metrics", 1_796_115_370.000001, -(2**64), None, "{}"),
    ]
    (message,) = _read(encode_events(rows))
    events = message["events"]
    assert (events.times, events.steps) == ([float("inf"), 1_796_115_370.000001], [2**70, -(2**64)])
    (message,) = _read(encode_events([(1, "metrics", float("nan"), 3, 1, "{}")]))
    assert math.isnan(message["events"].times[0])


def test_a_stream_cut_inside_the_payloads_ends_without_that_message() -> None:
    stream = encode({"run": {"id": "r"}}) + encode_events(ROWS)
    assert _read(stream[:-5]) == [{"run": {"id": "r"}}]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pipe sizes are Linux's")
def test_the_pipe_from_the_other_side_holds_a_whole_batch() -> None:
    read, write = os.pipe()
    try:
        with open(read, "rb") as stream:
            widen_pipe(stream)
            assert fcntl.fcntl(read, fcntl.F_GETPIPE_SZ) >= 1 << 20
            os.set_blocking(write, False)
            assert os.write(write, b"x" * (1 << 20)) == 1 << 20  # no reader needed meanwhile
    finally:
        os.close(write)
    widen_pipe(io.BytesIO(b"not a pipe"))  # left as it is
