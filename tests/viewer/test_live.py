"""Server-sent events against a real server: only deltas, and an end when the run is over."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from backprop_core.events.columns import MetricColumns
from backprop_core.store.contract import Store
from backprop_core.store.records import RunStatus

from .conftest import LiveServer, Seeder


def read_events(url: str, until: str, timeout: float = 30.0) -> list[tuple[str, Any]]:
    """Collect (event, data) pairs from an SSE stream until an event named ``until`` arrives."""
    out: list[tuple[str, Any]] = []
    name = ""
    with httpx.stream("GET", url, timeout=timeout) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                out.append((name, json.loads(line[6:])))
                if name == until:
                    return out
    return out


def test_run_stream_pushes_new_points_logs_and_status(
    live_server: LiveServer, seed: Seeder, store: Store, home: Path
) -> None:
    run_id = seed.run("active", status=RunStatus.RUNNING, steps=10, log_lines=3)
    log = home / "runs" / run_id / "session-1.log"
    seq = httpx.get(f"{live_server.url}/api/runs/{run_id}/metrics").json()["seq"]
    offset = log.stat().st_size

    def work() -> None:
        time.sleep(0.5)
        seed.points(run_id, 10, 15)
        with log.open("a") as fh:
            fh.write("new line\n")
        time.sleep(0.5)
        store.update_run(run_id, status=RunStatus.COMPLETED, ended_at=time.time())

    writer = threading.Thread(target=work)
    writer.start()
    query = f"after_seq={seq}&log_session=1&log_offset={offset}"
    url = f"{live_server.url}/api/runs/{run_id}/stream?{query}"
    events = read_events(url, "end")
    writer.join()
    names = [n for n, _ in events]
    assert names[-1] == "end"
    steps = [p[0] for n, d in events if n == "points" for p in d["points"]["loss"]]
    assert steps == [10, 11, 12, 13, 14]  # only the new points, each once
    logs = "".join(d["text"] for n, d in events if n == "log")
    assert logs == "new line\n"  # only the new text
    runs = [d for n, d in events if n == "run"]
    assert runs and runs[-1]["status"] == "completed"


def test_run_stream_pushes_every_point_of_printed_progress_lines(
    live_server: LiveServer, seed: Seeder, store: Store
) -> None:
    run_id = seed.run("printing", status=RunStatus.RUNNING, steps=10)
    seq = httpx.get(f"{live_server.url}/api/runs/{run_id}/metrics").json()["seq"]
    # What the supervisor hands the store for five lines like "iter 10: loss 0.5, mfu 12.5%".
    printed = MetricColumns(
        1,
        time.time(),
        [10, 11, 12, 13, 14],
        {"loss": [0.5, 0.4, 0.3, 0.2, 0.1], "mfu_pct": [12.5, 12.5, 12.6, 12.6, 12.7]},
    )

    def work() -> None:
        time.sleep(0.5)
        store.append_batch(run_id, [printed])
        time.sleep(0.5)
        store.update_run(run_id, status=RunStatus.COMPLETED, ended_at=time.time())

    writer = threading.Thread(target=work)
    writer.start()
    url = f"{live_server.url}/api/runs/{run_id}/stream?after_seq={seq}"
    events = read_events(url, "end")
    writer.join()
    points = [d["points"] for n, d in events if n == "points"]
    loss = [(p[0], p[2]) for batch in points for p in batch.get("loss", [])]
    mfu = [(p[0], p[2]) for batch in points for p in batch.get("mfu_pct", [])]
    assert loss == [(10, 0.5), (11, 0.4), (12, 0.3), (13, 0.2), (14, 0.1)]
    assert [step for step, _ in mfu] == [10, 11, 12, 13, 14] and mfu[-1][1] == 12.7


def test_runs_stream_announces_new_runs_and_status_changes(
    live_server: LiveServer, seed: Seeder, store: Store
) -> None:
    seed.run("old")
    since = time.time()
    found: list[tuple[str, Any]] = []
    connected = threading.Event()

    def listen() -> None:
        name = ""
        with httpx.stream(
            "GET", f"{live_server.url}/api/runs/stream?since={since}", timeout=30
        ) as r:
            for line in r.iter_lines():
                if line.startswith("retry:"):  # the server's first line: the stream is open
                    connected.set()
                elif line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    found.append((name, json.loads(line[6:])))
                    if any(d["run"]["status"] == "failed" for _, d in found):
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert connected.wait(20)
    new_id = seed.run("fresh", status=RunStatus.RUNNING, offset=7200)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not found:
        time.sleep(0.05)
    store.update_run(new_id, status=RunStatus.FAILED)
    listener.join(timeout=20)
    assert found[0][1]["new"] is True and found[0][1]["run"]["id"] == new_id
    assert found[-1][1]["run"]["status"] == "failed" and found[-1][1]["new"] is False
    assert all(d["run"]["name"] != "old" for _, d in found)
