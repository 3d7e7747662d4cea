"""Server-sent events against a real server: only deltas, and an end when the run is over."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from backprop_core.store.contract import Store
from backprop_core.store.records import RunStatus

from .conftest import LiveServer, Seeder


class SseReader:
    """Reads (event, data) pairs from an open SSE response, one at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.iter_lines()
        self.seen: list[tuple[str, Any]] = []

    def connected(self) -> None:
        """Wait for the server's first line: from here on, what changes is news."""
        for line in self.lines:
            if line.startswith("retry:"):
                return
        raise AssertionError("the stream closed before it opened")

    def until(self, wanted: Callable[[str, Any], bool], timeout: float = 60) -> tuple[str, Any]:
        """The next event ``wanted`` accepts; fails after ``timeout`` seconds (heartbeats keep
        a stream that sends nothing else open, so the read itself would never time out)."""
        deadline = time.monotonic() + timeout
        name = ""
        for line in self.lines:
            if time.monotonic() > deadline:
                break
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                item = (name, json.loads(line[6:]))
                self.seen.append(item)
                if wanted(*item):
                    return item
        raise AssertionError(f"the awaited event did not come; got {self.seen}")


def test_run_stream_pushes_new_points_logs_and_status(
    live_server: LiveServer, seed: Seeder, store: Store, home: Path
) -> None:
    run_id = seed.run("active", status=RunStatus.RUNNING, steps=10, log_lines=3)
    log = home / "runs" / run_id / "session-1.log"
    seq = httpx.get(f"{live_server.url}/api/runs/{run_id}/metrics").json()["seq"]
    offset = log.stat().st_size
    query = f"after_seq={seq}&log_session=1&log_offset={offset}"
    url = f"{live_server.url}/api/runs/{run_id}/stream?{query}"
    with httpx.stream("GET", url, timeout=30) as response:
        assert response.status_code == 200
        sse = SseReader(response)
        sse.connected()
        # Everything below happens after the stream opened: only a live stream can send it.
        seed.points(run_id, 10, 15)
        steps: list[int] = []
        while steps != [10, 11, 12, 13, 14]:
            _, data = sse.until(lambda n, d: n == "points")
            steps += [p[0] for p in data["points"]["loss"]]
            assert steps == [10, 11, 12, 13, 14][: len(steps)]  # only the new points, each once
        with log.open("a") as fh:
            fh.write("new line\n")
        _, chunk = sse.until(lambda n, d: n == "log")
        assert chunk["text"] == "new line\n"  # only the new text
        store.update_run(run_id, status=RunStatus.COMPLETED, ended_at=time.time())
        sse.until(lambda n, d: n == "run" and d["status"] == "completed")
        sse.until(lambda n, d: n == "end")
    names = [n for n, _ in sse.seen]
    assert names.count("log") == 1 and names[-1] == "end"


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


def test_run_stream_pushes_a_new_alert_while_the_run_is_still_active(
    live_server: LiveServer, seed: Seeder, store: Store
) -> None:
    from backprop_core.events.event import Event

    run_id = seed.run("alerting", status=RunStatus.RUNNING, steps=3)
    seq = httpx.get(f"{live_server.url}/api/runs/{run_id}/metrics").json()["seq"]
    seen = threading.Event()

    def work() -> None:
        store.append_events(
            run_id, [Event("alert", time.time(), 3, {"level": "warning", "text": "loss is NaN"})]
        )
        seen.wait(30)  # the page must learn of the alert without waiting for the run's end
        store.update_run(run_id, status=RunStatus.COMPLETED, ended_at=time.time())

    writer = threading.Thread(target=work)
    writer.start()
    url = f"{live_server.url}/api/runs/{run_id}/stream?after_seq={seq}&log_session=1"
    first_alerting_status = None
    name = ""
    with httpx.stream("GET", url, timeout=60) as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name == "run":
                data = json.loads(line[6:])
                if data["alerts"] and first_alerting_status is None:
                    first_alerting_status = data["status"]
                    seen.set()
            elif line.startswith("data: ") and name == "end":
                break
    writer.join()
    assert first_alerting_status == "running"


def _status_and_message(url: str) -> tuple[int, str]:
    """The status of a request, and the error message when it failed; a stream that opens is
    closed at once (its status is all that matters here)."""
    with httpx.stream("GET", url, timeout=30) as response:
        if response.status_code == 200:
            return 200, ""
        response.read()
        return response.status_code, response.json()["error"]["message"]


def test_a_session_the_run_does_not_have_is_404(live_server: LiveServer, seed: Seeder) -> None:
    run_id = seed.run("one-session", status=RunStatus.RUNNING)
    base = f"{live_server.url}/api/runs/{run_id}"
    assert _status_and_message(f"{base}/logs?session=2") == (
        404,
        f"run {run_id} has no session 2",
    )
    assert _status_and_message(f"{base}/stream?after_seq=0&log_session=7") == (
        404,
        f"run {run_id} has no session 7",
    )
    assert httpx.get(f"{base}/logs?session=1").json()["exists"] is True


@pytest.mark.parametrize(
    "path",
    [
        "stream?after_seq=9223372036854775808",
        "stream?after_seq=-9223372036854775809",
        "stream?log_offset=99999999999999999999999",
        "logs?offset=18446744073709551616",
    ],
)
def test_integers_beyond_64_bits_are_422_naming_the_parameter(
    live_server: LiveServer, seed: Seeder, path: str
) -> None:
    run_id = seed.run("big", status=RunStatus.RUNNING)
    status, message = _status_and_message(f"{live_server.url}/api/runs/{run_id}/{path}")
    assert status == 422
    assert path.split("?")[1].split("=")[0] in message
