"""The viewer on a PostgreSQL store, in a real headless Chromium: the runs table, a long
series downsampled with its spike kept, and a run recorded by ``backprop run`` growing live."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backprop_core.events.event import Event
from backprop_core.settings.model import Settings
from backprop_core.store.contract import Store
from tests.conftest import wait_for
from tests.postgres_server import pg_store

from .conftest import LiveServer, Seeder, screenshot
from .test_browser import TRAIN, chart_points

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def team(pg_url: str, home: Path) -> Iterator[Store]:
    store = pg_store(pg_url, home)
    yield store
    store.close()


@pytest.fixture
def team_server(pg_url: str, home: Path, team: Store) -> Iterator[LiveServer]:
    settings = Settings.from_config({"gpu": {"probe": "none"}, "store": pg_url}, home)
    server = LiveServer(home, settings=settings)
    yield server
    server.stop()


@pytest.mark.slow
def test_the_viewer_shows_a_team_store(
    page: Any, team_server: LiveServer, team: Store, home: Path
) -> None:
    seed = Seeder(team, home)
    ids = [seed.run(f"team-{i}", tags={"who": f"user{i}"}) for i in range(3)]
    big = seed.run("long", steps=0, keys=())
    values = [math.sin(i / 300) for i in range(60_000)]
    values[43_210] = 50.0
    for start in range(0, len(values), 20_000):
        team.append_events(
            big,
            [
                Event("metrics", 1.0 + i, i, {"data": {"loss": values[i]}})
                for i in range(start, start + 20_000)
            ],
        )
    page.goto(team_server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#runs-body tr").count() == 4
    assert page.locator("text=team-1").count() == 1
    page.goto(f"{team_server.url}/runs/{big}")
    page.wait_for_selector('.chart[data-key="loss"] canvas')
    shown = page.evaluate("() => bp.charts.all[0].plot.data[1]")
    assert max(v for v in shown if v is not None) == 50.0  # the spike survived downsampling
    assert 0 < chart_points(page, "loss") <= 2000
    screenshot(page, "postgres-run")
    page.goto(f"{team_server.url}/compare?ids={ids[0]},{ids[1]}")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#legend li").count() == 2
    assert page.console_errors == []


@pytest.mark.slow
def test_a_run_recording_into_postgres_grows_live_in_the_viewer(
    page: Any, team_server: LiveServer, pg_url: str, home: Path, tmp_path: Path
) -> None:
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    page.goto(team_server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    env = {
        **os.environ,
        "BACKPROP_HOME": str(home),
        "BACKPROP_STORE": pg_url,
        "BACKPROP_GPU__PROBE": "none",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "backprop_core.cli", "run", "-n", "pg-live", str(script), "150"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    try:
        row = page.locator('#runs-body tr:has-text("pg-live")')
        row.wait_for(timeout=30_000)
        row.locator("td.name a").click()
        page.wait_for_selector('.chart[data-key="loss"]', timeout=30_000)
        first = chart_points(page, "loss")
        wait_for(
            lambda: chart_points(page, "loss") >= first + 10,
            30,
            "the chart to grow",
            ignore=(Exception,),
        )
        assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
        page.wait_for_selector("#run-status.completed", timeout=30_000)
        assert chart_points(page, "loss") == 150
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert page.console_errors == []
