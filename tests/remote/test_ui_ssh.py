"""``backprop ui --ssh HOST``: the other machine's viewer on a Unix socket, forwarded to a
loopback port here, token required, and nothing left on either side after Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.conftest import wait_for
from tests.sshd import start_sshd

from .conftest import Remote, leftovers

pytestmark = pytest.mark.slow


class Ui:
    """A running ``ui --ssh`` and what it printed."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        assert proc.stdout is not None
        self.lines: list[str] = []
        while True:
            line = proc.stdout.readline().decode()
            if not line:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise AssertionError(f"ui --ssh ended: {self.lines} {err}")
            self.lines.append(line.rstrip("\n"))
            if "press Ctrl-C" in line:
                break
        found = re.search(r"at (http://127\.0\.0\.1:(\d+)/\?token=(\S+))", self.lines[0])
        assert found, self.lines
        self.url, self.port, self.token = found.group(1), int(found.group(2)), found.group(3)
        self.base = f"http://127.0.0.1:{self.port}"

    def get(self, path: str, **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {"Authorization": f"token {self.token}"})
        return httpx.get(self.base + path, headers=headers, timeout=30, **kw)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0, err
        return out.decode()


def registry(remote: Remote, name: str = "viewer.json") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((remote.home / "viewer" / name).read_text())
    return data


def test_the_runs_there_answer_through_the_tunnel_and_ctrl_c_leaves_nothing(
    remote: Remote,
) -> None:
    first = remote.seed("baseline", n=1)
    remote.seed("tuned", n=2)
    ui = Ui(remote.start("ui", "--ssh", remote.host, "--no-open"))
    assert ui.lines[0].startswith(f"backprop ui: serving {remote.host}:{remote.home} at ")
    body = ui.get("/api/runs").json()
    assert [r["name"] for r in body["runs"]] == ["tuned", "baseline"]
    assert ui.get(f"/api/runs/{first}/metrics").json()["series"]["loss"]["total"] == 20
    # The token is required, and the Host must be the tunnel's loopback end.
    assert ui.get("/api/runs", headers={}).status_code == 401
    evil = {"Authorization": f"token {ui.token}", "Host": "evil.example:80"}
    assert ui.get("/api/runs", headers=evil).status_code == 403
    # Only the loopback listens here; there, a socket only this user can reach.
    entry = registry(remote)
    folder = remote.home / "viewer"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert entry["socket"] == str(folder / "viewer.sock") and entry["port"] is None
    assert stat.S_IMODE((folder / "viewer.json").stat().st_mode) == 0o600
    listeners = [
        c.laddr
        for c in psutil.net_connections("inet")
        if c.status == "LISTEN" and c.laddr.port == ui.port
    ]
    assert listeners and all(addr.ip == "127.0.0.1" for addr in listeners)
    assert ui.stop().endswith("backprop ui: stopped.\n")
    wait_for(lambda: not psutil.pid_exists(entry["pid"]), 60, "the viewer there to stop")
    assert not (folder / "viewer.sock").exists() and not (folder / "viewer.json").exists()
    wait_for(lambda: not remote.sshd.sessions(), 60, "the ssh sessions to close")
    assert not leftovers(str(remote.sshd.client_key)), "an ssh process here is still running"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", ui.port), timeout=2).close()


def test_a_second_ui_reuses_a_kept_viewer_and_ctrl_c_leaves_it_running(remote: Remote) -> None:
    remote.seed("baseline", n=1)
    kept = Ui(remote.start("ui", "--ssh", remote.host, "--no-open", "--keep"))
    assert "keeps running" in kept.lines[1], kept.lines
    kept.stop()
    entry = registry(remote)
    try:
        assert psutil.pid_exists(entry["pid"])
        again = Ui(remote.start("ui", "--ssh", remote.host, "--no-open"))
        assert "already running" in again.lines[1], (again.lines, entry)
        assert again.token == entry["token"]
        assert again.get("/api/health").json()["runs"] == 1
        again.stop()
        assert psutil.pid_exists(entry["pid"])  # not ours to stop
        stopped = remote.there("remote-helper", "viewer-stop", "--pid", str(entry["pid"]))
        assert stopped.stdout.strip() == "stopped", stopped
        wait_for(lambda: not psutil.pid_exists(entry["pid"]), 60, "the kept viewer to stop")
    finally:
        if psutil.pid_exists(entry["pid"]):  # the test failed: end the viewer it kept
            os.kill(entry["pid"], signal.SIGKILL)


def test_where_unix_sockets_cannot_be_forwarded_the_viewer_uses_the_loopback(
    remote: Remote, tmp_path: Path
) -> None:
    strict = start_sshd(tmp_path / "sshd-no-unix", "AllowStreamLocalForwarding no")
    try:
        remote.seed("baseline", n=1)
        ssh = strict.ssh_command()
        ui = Ui(remote.start("ui", "--ssh", strict.host, "--no-open", BACKPROP_SSH_COMMAND=ssh))
        entry = registry(remote, "viewer-tcp.json")
        assert entry["socket"] is None and entry["port"] > 0
        assert not (remote.home / "viewer" / "viewer.json").exists()  # the socket one went
        assert ui.get("/api/health").json()["runs"] == 1
        assert ui.get("/api/health", headers={}).status_code == 401
        ui.stop()
        wait_for(lambda: not strict.sessions(), 60, "the ssh sessions to close")
    finally:
        strict.stop()
