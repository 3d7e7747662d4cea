"""Event payloads in the PostgreSQL store read back as the script sent them, whatever they
hold: the fast JSON writer hands what it would write differently to the standard one."""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backprop_core.events.event import Event
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus
from tests.postgres_server import pg_store

pytestmark = pytest.mark.postgres

PAYLOADS: list[dict[str, Any]] = [
    {"data": {"loss": math.nan, "acc": 0.5}},
    {"data": {"loss": math.inf, "neg": -math.inf}},
    {"data": {"loss": 0.25}, "note": None},
    {"big": 2**70, "small": -(2**70)},
    {"data": {1: 0.5, 2.5: 1}},
    {"when": datetime.datetime(2024, 5, 1, 12, 30), "where": Path("/srv/ckpt.pt")},
    {"text": "é ü 日本 \x00 \ud800", "nested": {"list": [1, 2.5, (3, 4)], "flag": True}},
    {"data": {"tiny": 5e-324, "huge": 1e308, "zero": -0.0, "exp": 1e16}},
]


@pytest.fixture
def store(tmp_path: Path, pg_url: str) -> Iterator[Store]:
    store = pg_store(pg_url, tmp_path / "home")
    store.create_run(RunRecord(id="r", status=RunStatus.RUNNING, created_at=1.0))
    yield store
    store.close()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b and str(a) == str(b)  # str: -0.0 is not 0.0


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_an_event_payload_reads_back_as_the_standard_json_writer_keeps_it(
    store: Store, payload: dict[str, Any]
) -> None:
    store.append_events("r", [Event("metrics", 2.0, 1, payload, 1)])
    (stored,) = store.events("r")
    expected = json.loads(json.dumps(payload, default=str))
    assert _same(dict(stored.event.payload), expected), (stored.event.payload, expected)
