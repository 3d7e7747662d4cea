"""``backprop ui`` as a user starts it: a real process that prints its URL and serves."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import run_cli, wait_for


def start_ui(home: Path, *args: str) -> tuple[subprocess.Popen[str], str, float]:
    home.mkdir(parents=True, exist_ok=True)  # the viewer reads a home; it never creates one
    env = {**os.environ, "BACKPROP_HOME": str(home), "BACKPROP_GPU__PROBE": "none"}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "backprop_core.cli", "ui", "--no-open", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.monotonic() - started
    match = re.search(r"(http://\S+)", line)
    assert match, f"no URL in {line!r}"
    return proc, match.group(1), elapsed


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_ui_prints_its_url_at_once_and_serves(
    tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    started = time.monotonic()
    assert run_cli("--version").returncode == 0
    floor = time.monotonic() - started  # this machine's start-up, now
    proc, url, elapsed = start_ui(tmp_path / "home", "--port", "0")
    procs.append(proc)
    assert url.startswith("http://127.0.0.1:") and "token" not in url
    # Printed before the web server is even imported: a fraction of a second on an idle
    # machine; the ceiling grows with the start-up just measured, for a loaded one.
    assert elapsed < 5 + 10 * floor, f"URL printed after {elapsed:.2f}s ({floor:.2f}s floor)"
    health = wait_for(
        lambda: httpx.get(url + "api/health", timeout=2), 20, "health", ignore=(httpx.HTTPError,)
    )
    assert health.json()["ok"] is True
    page = httpx.get(url, timeout=5)
    assert page.status_code == 200 and "No runs yet" in page.text
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) in (0, 130)


def test_non_loopback_bind_prints_a_token_and_requires_it(
    tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    proc, url, _ = start_ui(tmp_path / "home", "--host", "0.0.0.0", "--port", "0")
    procs.append(proc)
    match = re.search(r":(\d+)/\?token=([\w-]+)$", url)
    assert match, url
    port, token = match.groups()
    base = f"http://127.0.0.1:{port}"
    wait_for(
        lambda: httpx.get(f"{base}/api/health?token={token}", timeout=2).status_code == 200,
        20,
        "health",
        ignore=(httpx.HTTPError,),
    )
    assert httpx.get(f"{base}/api/health", timeout=2).status_code == 401
    assert httpx.get(f"{base}/static/app.css", timeout=2).status_code == 401
    assert httpx.get(f"{base}/api/runs?token={token}x", timeout=2).status_code == 401


def test_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        (tmp_path / "home").mkdir()
        env = {**os.environ, "BACKPROP_HOME": str(tmp_path / "home")}
        result = subprocess.run(
            [sys.executable, "-m", "backprop_core.cli", "ui", "--no-open", "--port", str(port)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("backprop: error:") and "in use" in result.stderr
    assert "Traceback" not in result.stderr
