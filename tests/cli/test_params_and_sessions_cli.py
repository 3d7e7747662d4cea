"""`list --param`, and how `show` and `export` present params and sessions that rewind."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from backprop_core.events.event import Event
from backprop_core.plugin.manager import get_plugins
from backprop_core.settings.schemas import load_schema
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord
from tests.conftest import run_cli

T0 = 1_790_000_000.0
RUN = "20260101-000000-rwnd"


@pytest.fixture(params=["sqlite", "json"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("BACKPROP_STORE", request.param)
    cls = get_plugins().store_class(request.param)
    s = cls(Path(os.environ["BACKPROP_HOME"]))
    s.home.ensure()
    yield s
    s.close()


def add_run(store: Store, run_id: str, created: float, **fields: object) -> RunRecord:
    fields.setdefault("status", RunStatus.COMPLETED)
    run = RunRecord(id=run_id, created_at=created, started_at=created, **fields)  # type: ignore[arg-type]
    return store.create_run(run)


def ids(*args: str) -> list[str]:
    result = run_cli("list", *args, "--json")
    assert result.returncode == 0, result.stderr
    return [r["id"] for r in json.loads(result.stdout)]


def test_list_filters_on_params_comparing_numbers_as_numbers(store: Store) -> None:
    add_run(store, "20260101-000000-aaaa", T0, params={"lr": 3e-4, "opt": "adamw", "amp": True})
    add_run(store, "20260101-000100-bbbb", T0 + 60, params={"lr": 0.001, "batch_size": 64})
    assert ids("--param", "lr=3e-4") == ["20260101-000000-aaaa"]
    assert ids("--param", "lr>=1e-4") == ["20260101-000100-bbbb", "20260101-000000-aaaa"]
    assert ids("--param", "lr>1e-4", "--param", "opt=adamw") == ["20260101-000000-aaaa"]
    assert ids("--param", "amp=true") == ["20260101-000000-aaaa"]
    assert ids("--param", "batch_size<64") == []
    shown = json.loads(run_cli("list", "--json").stdout)
    assert shown[1]["params"] == {"lr": 3e-4, "opt": "adamw", "amp": True}
    bad = run_cli("list", "--param", "lr")
    assert bad.returncode == 2 and "NAME=VALUE" in bad.stderr and "Traceback" not in bad.stderr


def rewound(store: Store) -> None:
    """Session 1 logs steps 0-9 (acc at 8); session 2 resumes from step 5's checkpoint."""
    add_run(store, RUN, T0, name="rewound", params={"lr": 0.1, "compile": False})
    store.add_session(SessionRecord(RUN, 1, RunStatus.TIMEBOXED, T0, ended_at=T0 + 10))
    events = [Event("metrics", T0 + i, i, {"data": {"loss": 10.0 - i}}, 1) for i in range(10)]
    events.append(Event("metrics", T0 + 8, 8, {"data": {"acc": 0.8}}, 1))
    events.append(Event("checkpoint_saved", T0 + 5, 5, {"path": "/nonexistent/c5.pt"}, 1))
    store.append_events(RUN, events)
    store.add_session(
        SessionRecord(
            RUN, 2, RunStatus.COMPLETED, T0 + 20, resumed_from="/nonexistent/c5.pt", resumed_step=5
        )
    )
    store.append_events(
        RUN, [Event("metrics", T0 + 20 + i, i, {"data": {"loss": -i}}, 2) for i in range(6, 8)]
    )


def test_show_marks_superseded_steps_and_all_sessions_counts_them(store: Store) -> None:
    rewound(store)
    text = run_cli("show", "rewound")
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert "steps 0 → 8 (from 6 on superseded by a later session)" in out
    assert "resumed from /nonexistent/c5.pt (step 5)" in out and "steps 6 → 7" in out
    assert "last step    7" in out and "loss=-7" in out and "acc" not in out.split("params")[0]
    assert "params" in out and "lr: 0.1" in out and "compile: false" in out

    view = json.loads(run_cli("show", "rewound", "--json").stdout)
    jsonschema.validate(view, load_schema("run-record.v1.schema.json"))
    assert view["params"] == {"lr": 0.1, "compile": False}
    assert [s["superseded_from"] for s in view["sessions"]] == [6, None]
    assert view["last_metrics"] == {"loss": -7.0}
    every = json.loads(run_cli("show", "rewound", "--json", "--all-sessions").stdout)
    assert every["last_metrics"] == {"loss": -7.0, "acc": 0.8}
    assert "acc=0.8" in run_cli("show", "rewound", "--all-sessions").stdout


def test_export_has_a_session_column_and_all_sessions_keeps_superseded_points(
    store: Store, tmp_path: Path
) -> None:
    rewound(store)
    shown = run_cli("export", "rewound")
    assert shown.returncode == 0, shown.stderr
    rows = list(csv.DictReader(io.StringIO(shown.stdout)))
    loss = [(r["step"], r["session"]) for r in rows if r["key"] == "loss"]
    assert loss == [(str(i), "1") for i in range(6)] + [("6", "2"), ("7", "2")]
    assert not [r for r in rows if r["key"] == "acc"]
    every = list(csv.DictReader(io.StringIO(run_cli("export", "rewound", "--all-sessions").stdout)))
    assert len([r for r in every if r["key"] == "loss"]) == 12
    assert [r["session"] for r in every if r["key"] == "acc"] == ["1"]

    target = tmp_path / "out.json"
    result = run_cli("export", "rewound", "--format", "json", "--all-sessions", "-o", str(target))
    assert result.returncode == 0, result.stderr
    (exported,) = json.loads(target.read_text())
    assert exported["metrics"]["loss"]["sessions"] == [1] * 10 + [2, 2]
    assert exported["last_metrics"] == {"loss": -7.0, "acc": 0.8}
