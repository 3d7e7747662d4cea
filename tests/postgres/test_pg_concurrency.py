"""Many clients at once against one PostgreSQL database: sixteen writer processes lose nothing,
a client killed mid-batch leaves every committed batch whole, clients that open a new database
together migrate it once, and a client older than the schema refuses to write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from backprop_core.events.event import Event
from backprop_core.store.records import RunStatus
from tests.conftest import REPO, run_cli
from tests.postgres_server import pg_store

pytestmark = pytest.mark.postgres

OPEN_AND_CREATE = """
import os, sys, time
from pathlib import Path
from backprop_core.plugin.manager import get_plugins
from backprop_core.store.records import RunRecord, RunStatus
import backprop_postgres.store  # everything imported before the start: they race to migrate
url, home, go, n = sys.argv[1:]
while not os.path.exists(go):
    time.sleep(0.001)
store = get_plugins().store_class(url)(Path(home))
store.create_run(RunRecord(id=f"client-{n}", status=RunStatus.COMPLETED, created_at=time.time()))
print("ok", flush=True)
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


def _worker(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.store.workers", *args]


@pytest.mark.slow
def test_sixteen_processes_lose_nothing(pg_url: str, tmp_path: Path) -> None:
    home, go = tmp_path / "home", tmp_path / "go"
    workers = [
        subprocess.Popen(
            _worker("concurrent", pg_url, str(home), str(go), str(w)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
            cwd=REPO,
        )
        for w in range(16)
    ]
    go.write_text("go")
    results = [w.communicate(timeout=240) for w in workers]
    for worker, (out, err) in zip(workers, results):
        assert worker.returncode == 0, err
        assert err == ""
        assert out.endswith("done\n")
    with pg_store(pg_url, home) as store:
        runs = store.list_runs()
        assert {r.name for r in runs} == {f"w{w}-r{r}" for w in range(16) for r in range(2)}
        for run in runs:
            assert run.status is RunStatus.COMPLETED
            assert [e.seq for e in store.events(run.id)] == list(range(1, 501))
            assert store.metric_series(run.id, "loss").values == [float(i) for i in range(500)]
            assert run.last_metrics["loss"] == 499.0 and run.last_step == 499
            assert store.metric_series(run.id, "w").values == [float(run.tags["worker"])] * 500


def test_a_client_killed_mid_batch_leaves_every_committed_batch_whole(
    pg_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    writer = subprocess.Popen(
        _worker("crash", pg_url, str(home), "run-1"),
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=REPO,
    )
    assert writer.stdout is not None
    committed = 0
    while committed < 25:
        line = writer.stdout.readline()
        assert line, "the writer stopped early"
        committed = int(line.split()[1])
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)
    for line in writer.stdout:
        committed = int(line.split()[1])
    with pg_store(pg_url, home) as store:
        series = store.metric_series("run-1", "x")
        assert sorted({int(v) for v in series.values})[:committed] == list(range(1, committed + 1))
        assert len(series) in (committed * 100, (committed + 1) * 100)  # one more: all or none
        events = store.events("run-1")
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert len(events) == len(series) // 100 * 101
        assert len(store.checkpoints("run-1")) == len(series) // 100
        store.append_events("run-1", [Event("done", 0.0)])  # the run's row is not left locked
        assert store.events("run-1")[-1].seq == len(events) + 1


def test_clients_opening_a_new_database_together_migrate_it_once(
    empty_pg_url: str, tmp_path: Path
) -> None:
    home, go = tmp_path / "home", tmp_path / "go"
    clients = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AND_CREATE, empty_pg_url, str(home), str(go), str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for n in range(6)
    ]
    go.write_text("go")
    for client in clients:
        out, err = client.communicate(timeout=120)
        assert client.returncode == 0, err
        assert out == "ok\n"
    from backprop_postgres.schema import SCHEMA_VERSION

    with pg_store(empty_pg_url, home) as store:
        assert store.count_runs() == 6
        assert store.db.read("SELECT value FROM meta WHERE key = 'schema_version'") == [
            (str(SCHEMA_VERSION),)
        ]


def test_a_client_older_than_the_schema_reads_but_refuses_to_write(
    pg_url: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    with pg_store(pg_url, home) as store:
        store.create_run(pg_run("kept"))
        with store.db.write() as conn:
            conn.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    env = {"BACKPROP_STORE": pg_url, "BACKPROP_HOME": str(home)}
    listed = run_cli("list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert '"kept"' in listed.stdout
    script = tmp_path / "train.py"
    script.write_text("print('ran')\n")
    done = run_cli("run", str(script), env={**env, "BACKPROP_GPU__PROBE": "none"})
    assert done.returncode == 1
    assert "has schema version 999, newer than this backprop knows" in done.stderr
    assert "upgrade backprop" in done.stderr and "ran" not in done.stdout


def pg_run(run_id: str):  # type: ignore[no-untyped-def]
    from backprop_core.store.records import RunRecord

    return RunRecord(id=run_id, status=RunStatus.COMPLETED, created_at=1_790_000_000.0)
