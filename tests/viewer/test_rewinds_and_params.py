"""The viewer on runs with params, sessions that rewind, grouped and system metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from backprop_core.events.event import Event
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord
from backprop_core.viewer import create_app
from backprop_core.viewer.grouping import chart_groups

from .conftest import LiveServer, Seeder, fake_snapshot, make_settings, screenshot

RUN = "20261123-130000-rwnd"


def seed_rewound(store: Store, tmp_path: Path) -> str:
    """Session 1: steps 0-59 of loss, val_loss every 10, a CPU sample; its checkpoint at 30 is
    gone. Session 2 resumed from step 30 and logged 31-44."""
    t0 = time.time() - 600
    kept = tmp_path / "step-40.pt"
    kept.write_bytes(b"x")
    store.create_run(
        RunRecord(
            id=RUN,
            status=RunStatus.COMPLETED,
            created_at=t0,
            started_at=t0,
            ended_at=t0 + 300,
            name="rewound",
            params={"lr": 0.0003, "batch_size": 64, "compile": False},
            environment={
                "python": {"version": "3.11.7", "executable": "/usr/bin/python3"},
                "git": {"commit": "0123456789abcdef", "branch": "main", "dirty": True},
                "hostname": "trainbox",
            },
        )
    )
    store.add_session(SessionRecord(RUN, 1, RunStatus.TIMEBOXED, t0, ended_at=t0 + 100))
    first = [Event("metrics", t0 + s, s, {"data": {"loss": 3.0 - s / 30}}, 1) for s in range(60)]
    first += [
        Event("metrics", t0 + s, s, {"data": {"val_loss": 3.1 - s / 30}}, 1)
        for s in range(0, 60, 10)
    ]
    first.append(Event("metrics", t0 + 5, None, {"data": {"sys/cpu_pct": 99.0}}, 1))
    first.append(Event("checkpoint_saved", t0 + 30, 30, {"path": str(tmp_path / "gone.pt")}, 1))
    store.append_events(RUN, first)
    store.add_session(
        SessionRecord(
            RUN,
            2,
            RunStatus.COMPLETED,
            t0 + 200,
            resumed_from=str(tmp_path / "gone.pt"),
            resumed_step=30,
        )
    )
    second = [
        Event("metrics", t0 + 200 + s, s, {"data": {"loss": 2.0 - s / 30}}, 2)
        for s in range(31, 45)
    ]
    second.append(Event("checkpoint_saved", t0 + 240, 40, {"path": str(kept)}, 2))
    second.append(
        Event(
            "metrics", t0 + 205, None, {"data": {"sys/cpu_pct": 98.0, "sys/gpu0/util_pct": 50.0}}, 2
        )
    )
    store.append_events(RUN, second)
    return RUN


@pytest.fixture
def client(home: Path, store: Store) -> Iterator[TestClient]:
    app = create_app(make_settings(home), snapshot=fake_snapshot)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def test_grouping_rule_pairs_splits_and_puts_system_metrics_last() -> None:
    keys = [
        "acc",
        "eval/acc",
        "loss",
        "lr",
        "sys/cpu_pct",
        "sys/gpu0/util_pct",
        "sys/gpu1/util_pct",
        "test",
        "train/acc",
        "train_loss",
        "val_loss",
    ]
    groups = [(g["title"], g["keys"], g["system"]) for g in chart_groups(keys)]
    assert groups == [
        ("acc", ["acc", "eval/acc", "train/acc"], False),
        ("loss", ["loss", "train_loss", "val_loss"], False),
        ("lr", ["lr"], False),
        ("test", ["test"], False),
        ("sys/cpu_pct", ["sys/cpu_pct"], True),
        ("sys/gpu*/util_pct", ["sys/gpu0/util_pct", "sys/gpu1/util_pct"], True),
    ]


def test_metrics_leave_superseded_points_out_unless_all_sessions(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    seed_rewound(store, tmp_path)
    data = client.get(f"/api/runs/{RUN}/metrics").json()
    loss = data["series"]["loss"]
    assert loss["steps"] == [*range(31), *range(31, 45)]
    assert loss["sessions"] == [1] * 31 + [2] * 14
    assert data["series"]["val_loss"]["steps"] == [0, 10, 20, 30]
    assert [(s["number"], s["boundary"]) for s in data["sessions"]] == [(1, 0), (2, 31)]
    assert {"title": "loss", "keys": ["loss", "val_loss"], "system": False} in data["groups"]
    every = client.get(f"/api/runs/{RUN}/metrics?all_sessions=true").json()
    assert every["series"]["loss"]["total"] == 74 and every["all_sessions"] is True
    bad = client.get(f"/api/runs/{RUN}/metrics?all_sessions=maybe")
    assert bad.status_code == 422 and "all_sessions" in bad.json()["error"]["message"]


def test_run_detail_marks_missing_checkpoints_params_and_superseded_sessions(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    seed_rewound(store, tmp_path)
    run = client.get(f"/api/runs/{RUN}").json()
    assert [c["exists"] for c in run["checkpoints"]] == [False, True]
    assert run["params"] == {"lr": 0.0003, "batch_size": 64, "compile": False}
    assert [s["superseded_from"] for s in run["sessions"]] == [31, None]
    assert run["last_metrics"]["val_loss"] == pytest.approx(3.1 - 30 / 30)


def test_stream_points_carry_their_session(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    seed_rewound(store, tmp_path)
    seq = len(store.events(RUN)) - 3
    with client.stream("GET", f"/api/runs/{RUN}/stream?after_seq={seq}") as response:
        body = "".join(response.iter_text())
    assert '"loss":[[44,' in body and "0.5333333333333334,2]]" in body  # [step, time, value, 2]


@pytest.mark.browser
def test_run_page_groups_marks_sessions_and_shows_system_apart(
    page: Any, live_server: LiveServer, store: Store, tmp_path: Path
) -> None:
    seed_rewound(store, tmp_path)
    page.goto(f"{live_server.url}/runs/{RUN}")
    page.wait_for_selector("body[data-ready=true]")
    loss = page.locator('#charts .chart[data-key="loss"]')
    assert loss.get_attribute("data-keys") == "loss,val_loss"
    assert loss.get_attribute("data-series") == "2"
    assert loss.get_attribute("data-marks") == "1"  # where session 2 took over
    assert int(loss.get_attribute("data-points")) == 45  # 31 + 14: nothing superseded drawn
    assert page.locator("#charts .chart").count() == 1
    assert page.locator("#system-section").is_visible()
    system = page.locator("#system-charts .chart")
    assert sorted(system.evaluate_all("els => els.map(e => e.dataset.key)")) == [
        "sys/cpu_pct",
        "sys/gpu0/util_pct",  # one GPU: no sibling to share a chart with
    ]
    assert "lr" in page.inner_text("#run-params") and "false" in page.inner_text("#run-params")
    assert "0123456789ab" in page.inner_text("#env-git") and "dirty" in page.inner_text("#env-git")
    missing = page.locator("#checkpoints-table tr.missing")
    assert missing.count() == 1 and "gone.pt" in missing.inner_text()
    screenshot(page, "run-rewound")

    page.uncheck("#group-metrics")
    page.wait_for_selector('#charts .chart[data-key="val_loss"]')
    assert page.locator("#charts .chart").count() == 2

    page.check("#all-sessions")
    page.wait_for_selector('#charts .chart[data-key="loss"][data-series="2"]')
    loss = page.locator('#charts .chart[data-key="loss"]')
    assert loss.get_attribute("data-keys") == "loss,loss"  # one series per session
    assert "loss #1" in loss.inner_text() and "loss #2" in loss.inner_text()
    assert page.console_errors == []


@pytest.mark.browser
def test_runs_table_shows_params_and_each_runs_own_metrics(
    page: Any, live_server: LiveServer, seed: Seeder, store: Store, tmp_path: Path
) -> None:
    other = seed.run("plain", keys=("acc",))
    seed_rewound(store, tmp_path)
    page.goto(live_server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    headers = page.locator("#runs-table thead th.param").all_inner_texts()
    assert headers == ["batch_size", "compile", "lr"]
    row = page.locator(f'#runs-body tr[data-id="{RUN}"]')
    assert row.locator('td[data-param="lr"]').inner_text() == "0.0003"
    assert row.locator('td[data-param="compile"]').inner_text() == "false"
    own = row.locator("td.metrics .metric").evaluate_all("els => els.map(e => e.dataset.metric)")
    assert own == ["loss", "val_loss"]  # its own, and no sys/… ones
    plain = page.locator(f'#runs-body tr[data-id="{other}"] td.metrics .metric')
    assert plain.evaluate_all("els => els.map(e => e.dataset.metric)") == ["acc"]
    assert page.console_errors == []


@pytest.mark.browser
def test_compare_page_lists_params_and_marks_those_that_differ(
    page: Any, live_server: LiveServer, store: Store, tmp_path: Path
) -> None:
    seed_rewound(store, tmp_path)
    store.create_run(
        RunRecord(
            id="20261123-140000-twin",
            status=RunStatus.COMPLETED,
            created_at=time.time(),
            name="twin",
            params={"lr": 0.001, "batch_size": 64},
        )
    )
    page.goto(f"{live_server.url}/compare?ids={RUN},twin")
    page.wait_for_selector("body[data-ready=true]")
    differs = page.locator("#params-table tr.differs").evaluate_all(
        "els => els.map(e => e.dataset.param)"
    )
    assert differs == ["compile", "lr"]
    same = page.locator('#params-table tr[data-param="batch_size"]')
    assert same.get_attribute("class") is None and same.inner_text().count("64") == 2
    assert page.console_errors == []


@pytest.mark.browser
def test_an_open_page_drops_what_a_new_session_supersedes(
    page: Any, live_server: LiveServer, store: Store
) -> None:
    t0 = time.time() - 100
    run_id = "20261123-150000-live"
    store.create_run(RunRecord(id=run_id, status=RunStatus.RUNNING, created_at=t0, started_at=t0))
    store.add_session(SessionRecord(run_id, 1, RunStatus.RUNNING, t0))
    store.append_events(
        run_id, [Event("metrics", t0 + s, s, {"data": {"loss": 1.0}}, 1) for s in range(60)]
    )
    page.goto(f"{live_server.url}/runs/{run_id}")
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_selector('.chart[data-key="loss"][data-points="60"]')

    store.update_session(run_id, 1, status=RunStatus.TIMEBOXED, ended_at=t0 + 60)
    store.add_session(SessionRecord(run_id, 2, RunStatus.RUNNING, t0 + 70, resumed_step=30))
    store.append_events(
        run_id,
        [Event("metrics", t0 + 70 + s, s, {"data": {"loss": 0.5}}, 2) for s in range(31, 41)],
    )
    # 0-30 of session 1 and 31-40 of session 2; session 1's 31-59 are gone from the chart.
    page.wait_for_selector(
        '.chart[data-key="loss"][data-points="41"][data-marks="1"]', timeout=30_000
    )
    assert page.console_errors == []
