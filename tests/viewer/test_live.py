"""Server-sent events against a real server: only deltas, and an end when the run is over."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from backprop_core.store.contract import Store
from backprop_core.store.records import RunStatus

from .conftest import LiveServer, Seeder


def read_events(
    url: str, until: str, connected: threading.Event | None = None, timeout: float = 30.0
) -> list[tuple[str, Any]]:
    """Collect (event, data) pairs from an SSE stream until an event named ``until`` arrives;
    ``connected`` is set once the server has opened the stream (its first line)."""
    out: list[tuple[str, Any]] = []
    name = ""
    with httpx.stream("GET", url, timeout=timeout) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("retry:") and connected is not None:
                connected.set()
            elif line.startswith("event: "):
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
    connected = threading.Event()

    def work() -> None:
        # Only changes made after the stream is open are news to it.
        if not connected.wait(30):
            return
        seed.points(run_id, 10, 15)
        with log.open("a") as fh:
            fh.write("new line\n")
        store.update_run(run_id, status=RunStatus.COMPLETED, ended_at=time.time())

    writer = threading.Thread(target=work)
    writer.start()
    query = f"after_seq={seq}&log_session=1&log_offset={offset}"
    url = f"{live_server.url}/api/runs/{run_id}/stream?{query}"
    events = read_events(url, "end", connected)
    writer.join()
    names = [n for n, _ in events]
    assert names[-1] == "end"
    steps = [p[0] for n, d in events if n == "points" for p in d["points"]["loss"]]
    assert steps == [10, 11, 12, 13, 14]  # only the new points, each once
    logs = "".join(d["text"] for n, d in events if n == "log")
    assert logs == "new line\n"  # only the new text
    runs = [d for n, d in events if n == "run"]
    assert runs and runs[-1]["status"] == "completed"


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
