"""Many processes writing at once, and a writer killed mid-write, against both stores."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from backprop_core.plugin.manager import get_plugins
from backprop_core.store.records import RunStatus
from tests.conftest import REPO

STORES = ["sqlite", "json"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.slow
@pytest.mark.parametrize("store_name", STORES)
def test_sixteen_processes_lose_nothing(store_name: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.store.workers",
                "concurrent",
                store_name,
                str(home),
                str(go),
                str(w),
            ],
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
        assert err == ""  # no lock error, no warning surfaced
        assert out.endswith("done\n")

    store = get_plugins().store_class(store_name)(home)
    runs = store.list_runs()
    assert len(runs) == 32
    assert {r.name for r in runs} == {f"w{w}-r{r}" for w in range(16) for r in range(2)}
    for run in runs:
        assert run.status is RunStatus.COMPLETED
        events = store.events(run.id)
        assert [e.seq for e in events] == list(range(1, 501))
        loss = store.metric_series(run.id, "loss")
        assert loss.values == [float(i) for i in range(500)]
        assert run.last_metrics["loss"] == 499.0 and run.last_step == 499
        assert store.metric_series(run.id, "w").values == [float(run.tags["worker"])] * 500


def test_opening_a_new_store_waits_for_another_process_switching_it(tmp_path: Path) -> None:
    """A process that opens a new store while another holds its write lock waits for the lock,
    as it does for any write, instead of failing at once with "database is locked"."""
    home = tmp_path / "home"
    home.mkdir()
    other = sqlite3.connect(home / "backprop.db", isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE held (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO held VALUES (1)")
    releasing = threading.Event()

    def release() -> None:
        releasing.set()
        other.execute("COMMIT")

    timer = threading.Timer(0.5, release)
    timer.start()
    try:
        store = get_plugins().store_class("sqlite")(home)
        assert store.list_runs() == []
        assert releasing.is_set()  # it waited for the lock
    finally:
        timer.join()
        other.close()
    probe = sqlite3.connect(home / "backprop.db")
    assert probe.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert probe.execute("SELECT x FROM held").fetchall() == [(1,)]
    probe.close()


@pytest.mark.parametrize("store_name", STORES)
def test_writer_killed_mid_write_leaves_everything_committed(
    store_name: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.store.workers", "crash", store_name, str(home), "run-1"],
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
    for line in writer.stdout:  # batches that finished between our read and the kill
        committed = int(line.split()[1])

    store = get_plugins().store_class(store_name)(home)
    series = store.metric_series("run-1", "x")
    batches = sorted({int(v) for v in series.values})
    assert batches[:committed] == list(range(1, committed + 1))
    assert len(series) in (committed * 100, (committed + 1) * 100)  # all or none of one more
    events = store.events("run-1")
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len(events) == len(series) // 100 * 101
    assert len(store.checkpoints("run-1")) == len(series) // 100
    # The store keeps working after the crash.
    from backprop_core.events.event import Event

    store.append_events("run-1", [Event("done", 0.0)])
    assert store.events("run-1")[-1].seq == len(events) + 1
    assert store.get_run("run-1").done
