"""``backprop store copy``: a home's SQLite or JSON store into PostgreSQL and back, record for
record; again is a no-op; interrupted (SIGKILL) and run again, it finishes the job."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from backprop_core.events.event import Event
from backprop_core.events.file_identity import FileIdentity
from backprop_core.plugin.manager import get_plugins
from backprop_core.store.contract import Store
from backprop_core.store.records import (
    RunRecord,
    RunStatus,
    SessionRecord,
    checkpoint_to_dict,
    json_safe,
    run_to_dict,
    session_to_dict,
)
from tests.conftest import REPO, run_cli, wait_for
from tests.postgres_server import pg_store
from tests.run.test_disk_full import Lines

pytestmark = pytest.mark.postgres
T0 = 1_790_000_000.0


def fill(store: Store, runs: int, steps: int = 30) -> None:
    """Runs with what a store may hold: two sessions (the second rewinds), NaN and ±Inf,
    params and tags, checkpoints with and without a file identity, one forgotten by gc."""
    for r in range(runs):
        run_id = f"20260101-{r:06d}-ab{r:02d}"
        store.create_run(
            RunRecord(
                id=run_id,
                status=RunStatus.COMPLETED,
                created_at=T0 + r,
                name=f"exp-{r} ✓",
                tags={"team": "vision", "r": str(r)},
                params={"lr": 3e-4, "amp": True},
                cwd="/srv/proj",
            )
        )
        for number in (1, 2):
            store.add_session(
                SessionRecord(run_id, number, RunStatus.COMPLETED, T0 + r + number, host="gpu1")
            )
            start = 0 if number == 1 else steps // 2
            events = [
                Event(
                    "metrics", T0 + s, s, {"data": {"loss": 1 / (s + 1), "acc": s / steps}}, number
                )
                for s in range(start, steps)
            ]
            events.append(Event("metrics", T0 + steps, steps, {"data": {"loss": math.nan}}, number))
            events.append(Event("metrics", T0 + steps, None, {"data": {"sys/x": math.inf}}, number))
            seen = FileIdentity("/srv/proj/c.pt", 1, 2, 3, 4) if number == 2 else None
            events.append(
                Event("checkpoint_saved", T0, steps, {"path": f"c{number}.pt"}, number, file=seen)
            )
            events.append(Event("params", T0, None, {"data": {"depth": number}}, number))
            store.append_events(run_id, events)
            store.update_session(run_id, number, ended_at=T0 + 99, active_seconds=9.5)
        store.beat(run_id, 2, T0 + 98)
        store.delete_checkpoints(run_id, ["c1.pt"])
        store.update_run(run_id, done=True, ended_at=T0 + 100, exit_code=0)


def everything(store: Store) -> list[Any]:
    """Every record of every run, comparable across stores (NaN as a string)."""
    out: list[Any] = []
    for run in store.list_runs():
        out.append(run_to_dict(run))
        out.append([session_to_dict(s) for s in store.sessions(run.id)])
        out.append([checkpoint_to_dict(c) for c in store.checkpoints(run.id)])
        out.append([(e.seq, e.event.kind, e.event.time, e.event.step, e.event.session,
                     e.event.payload) for e in store.events(run.id)])  # fmt: skip
        for key in store.metric_keys(run.id):
            series = store.metric_series(run.id, key, all_sessions=True)
            out.append((key, series.steps, series.times, series.values, series.sessions))
            shown = store.metric_series(run.id, key, max_points=10)
            out.append((key, shown.steps, shown.values, shown.total))
    return json_safe(out)


def copy(src: str, dst: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("store", "copy", "--from", src, "--to", dst, "--json", *extra, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "json"])
def test_a_home_goes_into_postgres_and_back_record_for_record(
    kind: str, pg_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    with get_plugins().store_class(kind)(home) as source:
        source.home.ensure()
        fill(source, 3)
        before = everything(source)
    done = copy(str(home), pg_url)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert len(report["copied"]) == 3 and report["mismatched"] == []
    assert report["source"] == report["destination"]
    # Per run: session 1 logs steps 0-29 and session 2 steps 15-29 of two keys, plus a NaN
    # loss and a sys/x point each.
    assert report["source"]["points"] == 3 * ((30 + 15) * 2 + 2 * 2)
    with pg_store(pg_url, tmp_path / "pg-home") as team:
        assert everything(team) == before
    again = copy(str(home), pg_url)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["already_there"] == sorted(report["copied"])
    back = tmp_path / "back"
    done = copy(pg_url, f"{kind}:{back}")
    assert done.returncode == 0, done.stderr
    with get_plugins().store_class(kind)(back) as copied_back:
        assert everything(copied_back) == before


def test_a_run_that_differs_at_the_destination_is_left_alone_unless_replaced(
    pg_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    with get_plugins().store_class("sqlite")(home) as source:
        source.home.ensure()
        fill(source, 1)
        run_id = source.list_runs()[0].id
    assert copy(str(home), pg_url).returncode == 0
    with pg_store(pg_url, tmp_path / "pg-home") as team:
        team.update_run(run_id, name="renamed in the team store")
    done = copy(str(home), pg_url)
    assert done.returncode == 1
    assert f"differ from the source and were left alone: {run_id}" in done.stderr
    assert "--replace" in done.stderr
    with pg_store(pg_url, tmp_path / "pg-home") as team:
        assert team.get_run(run_id).name == "renamed in the team store"
    assert copy(str(home), pg_url, "--replace").returncode == 0
    with pg_store(pg_url, tmp_path / "pg-home") as team:
        assert team.get_run(run_id).name == "exp-0 ✓"


@pytest.mark.slow
@pytest.mark.parametrize("direction", ["into postgres", "out of postgres"])
def test_an_interrupted_copy_finishes_when_run_again(
    direction: str, pg_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    if direction == "into postgres":
        source: Store = get_plugins().store_class("sqlite")(home)
        source.home.ensure()
        src, dst = str(home), pg_url
    else:
        source = pg_store(pg_url, tmp_path / "pg-home")
        src, dst = pg_url, f"sqlite:{home}"
    with source:
        fill(source, 12, steps=2_000)
        before = everything(source)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    copier = subprocess.Popen(
        [sys.executable, "-m", "backprop_core.cli", "store", "copy", "--from", src, "--to", dst],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    err = Lines(copier.stderr)
    wait_for(lambda: "(3/12)" in err.text(), 120, "a few runs copied")
    os.kill(copier.pid, signal.SIGKILL)
    copier.wait(timeout=30)
    done = copy(src, dst)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert len(report["already_there"]) >= 3
    assert len(report["copied"]) + len(report["redone"]) + len(report["already_there"]) == 12
    target: Store = (
        pg_store(pg_url, tmp_path / "pg-home")
        if direction == "into postgres"
        else get_plugins().store_class("sqlite")(home)
    )
    with target:
        assert everything(target) == before
