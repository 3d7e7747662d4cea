"""Shared by the interop tests: a home with a run whose metrics hold every value that is hard
to carry (NaN, ±Inf, -0.0, 1e300, the smallest double, steps up to 2**40, times to the
microsecond, a resumed session that repeats steps), and exact comparison of series."""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from backprop_core.events.event import Event
from backprop_core.plugin.manager import get_plugins
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord
from tests.conftest import run_cli

T0 = 1_790_000_000.123456
RUN_ID = "20260923-101010-hard"
HARD_VALUES = [
    0.1,
    math.nan,
    math.inf,
    -math.inf,
    -0.0,
    1e300,
    -1e-300,
    5e-324,
    1 / 3,
    123456789.123456789,
]


def open_store(home: Path, kind: str = "sqlite") -> Store:
    store = get_plugins().store_class(kind)(home)
    store.home.ensure()
    return store


def hard_run(store: Store, run_id: str = RUN_ID) -> RunRecord:
    """A run of two sessions; the second (resumed) logs steps the first already logged."""
    run = store.create_run(
        RunRecord(
            id=run_id,
            status=RunStatus.COMPLETED,
            created_at=T0,
            name="hard values",
            started_at=T0,
            ended_at=T0 + 100,
        )
    )
    store.add_session(SessionRecord(run_id, 1, RunStatus.TIMEBOXED, T0, ended_at=T0 + 50))
    store.add_session(SessionRecord(run_id, 2, RunStatus.COMPLETED, T0 + 60, ended_at=T0 + 100))
    first = [
        Event(
            "metrics",
            T0 + i * 0.000001 * 7,
            2**40 - 20 + i,
            {"data": {"loss": value, "eval/acc": i / 7}},
            1,
        )
        for i, value in enumerate(HARD_VALUES)
    ]
    resumed = [
        Event("metrics", T0 + 60 + i * 1.5e-6, 2**40 - 15 + i, {"data": {"loss": 2.0 - i}}, 2)
        for i in range(10)
    ]
    store.append_events(run_id, first)
    store.append_events(run_id, resumed)
    return run


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


def series_of(
    store: Store, run_id: str
) -> dict[str, tuple[list[int | None], list[float], list[bytes]]]:
    """Every metric of a run, values as their bits (NaN equals NaN, -0.0 differs from 0.0)."""
    out = {}
    for key in store.metric_keys(run_id):
        s = store.metric_series(run_id, key)
        out[key] = (s.steps, s.times, [bits(v) for v in s.values])
    return out


@pytest.fixture
def homes(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """The source home (holding the hard run) and an empty destination home."""
    source, dest = tmp_path / "source", tmp_path / "dest"
    with open_store(source) as store:
        hard_run(store)
    yield source, dest


def cli_in(home: Path, *args: str) -> str:
    """``backprop ARGS`` against ``home``; its stdout (it must succeed)."""
    result = run_cli(*args, env={"BACKPROP_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    return result.stdout


def import_report(home: Path, *args: str) -> dict[str, list[str]]:
    report: dict[str, list[str]] = json.loads(cli_in(home, "import", *args, "--json"))
    return report


def env_home(home: Path) -> dict[str, str]:
    return {**os.environ, "BACKPROP_HOME": str(home)}
