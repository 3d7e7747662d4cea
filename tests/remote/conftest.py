"""Fixtures for the remote tests: a real sshd (session-wide) and a second backprop home as "the
other machine", reached through it as ``user@127.0.0.1`` with ``remote.command``."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from backprop_core.events.event import Event
from backprop_core.settings.model import Settings
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord
from tests.conftest import wait_for
from tests.sshd import Sshd, missing_tools, start_sshd


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    why = missing_tools()
    if why:
        pytest.skip(why)
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


class Remote:
    """The other machine: a backprop home reached over ssh, and this machine's backprop."""

    def __init__(self, sshd: Sshd, base: Path) -> None:
        self.sshd = sshd
        self.home = base / "remote home's"  # a space and a quote: remote.command must quote
        self.work = base / "remote-work"
        self.work.mkdir(parents=True)
        self.xdg = base / "remote-xdg"
        self.env = {
            "BACKPROP_HOME": str(self.home),
            "BACKPROP_GPU__PROBE": "none",
            "BACKPROP_MIN_FREE_RAM_GB": "0",
            "BACKPROP_GOVERNOR__POLL_SECONDS": "0.2",
            "BACKPROP_GOVERNOR__PAUSE_BELOW_FREE_RAM_GB": "0",
            "BACKPROP_STOP__GRACE_SECONDS": "2",
            "XDG_CONFIG_HOME": str(self.xdg / "config"),
            "XDG_CACHE_HOME": str(self.xdg / "cache"),
            "XDG_DATA_HOME": str(self.xdg / "data"),
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def host(self) -> str:
        return self.sshd.host

    @property
    def command(self) -> str:
        """``remote.command``: backprop there, with that machine's environment."""
        assignments = " ".join(shlex.quote(f"{k}={v}") for k, v in self.env.items())
        return (
            f"cd {shlex.quote(str(self.work))} && env {assignments} "
            f"{shlex.quote(sys.executable)} -m backprop_core.cli"
        )

    def client_env(self, **extra: str) -> dict[str, str]:
        """This machine's environment for ``backprop --remote``/``pull``/``ui --ssh``."""
        env = dict(os.environ)
        env["BACKPROP_SSH_COMMAND"] = self.sshd.ssh_command()
        env["BACKPROP_REMOTE__COMMAND"] = self.command
        env.update(extra)
        return env

    def cli(
        self, *args: str, timeout: float = 120, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        """``backprop ARGS`` here (add ``--remote HOST`` yourself)."""
        return subprocess.run(
            [sys.executable, "-m", "backprop_core.cli", *args],
            capture_output=True,
            text=True,
            errors="surrogateescape",
            env=self.client_env(**extra),
            timeout=timeout,
        )

    def remote(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.cli("--remote", self.host, *args, **kw)

    def start(self, *args: str, **extra: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backprop_core.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.client_env(**extra),
        )
        self.procs.append(proc)
        return proc

    def there(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``backprop ARGS`` run directly on the other machine's home (no ssh), to compare."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")}
        env.update(self.env)
        return subprocess.run(
            [sys.executable, "-m", "backprop_core.cli", *args],
            capture_output=True,
            text=True,
            errors="surrogateescape",
            env=env,
            cwd=self.work,
            timeout=timeout,
        )

    def start_there(self, *args: str) -> subprocess.Popen[bytes]:
        """A real ``backprop run`` on the other machine."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")}
        env.update(self.env)
        proc = subprocess.Popen(
            [sys.executable, "-m", "backprop_core.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=self.work,
        )
        self.procs.append(proc)
        return proc

    def script(self, name: str, source: str) -> Path:
        path = self.work / name
        path.write_text(textwrap.dedent(source))
        return path

    def store(self) -> Store:
        from backprop_core.plugin.manager import reset_plugins
        from backprop_core.store.opening import open_store

        reset_plugins()
        config = {"store": self.env.get("BACKPROP_STORE", "sqlite")}
        return open_store(Settings.from_config(config, home=self.home), reconcile=False)

    def seed(
        self,
        name: str,
        *,
        steps: int = 20,
        keys: tuple[str, ...] = ("loss", "acc"),
        log: str = "",
        status: RunStatus = RunStatus.COMPLETED,
        n: int = 0,
    ) -> str:
        """A finished run written through the Store API, with metrics and a log."""
        t0 = time.time() - 3600 + n
        run_id = f"20260101-{100000 + n:06d}-s{n:03d}"
        with self.store() as store:
            store.create_run(
                RunRecord(
                    id=run_id,
                    status=status,
                    created_at=t0,
                    started_at=t0,
                    ended_at=None if status.active else t0 + 30,
                    name=name,
                    tags={"lr": "0.1"},
                    script="train.py",
                    cwd=str(self.work),
                    framework="pytorch",
                )
            )
            store.add_session(
                SessionRecord(run_id, 1, status, t0, None if status.active else t0 + 30, host="gpu")
            )
            events = [
                Event("metrics", t0 + s, s, {"data": {k: 1.0 / (s + 1) for k in keys}})
                for s in range(steps)
            ]
            if events:
                store.append_events(run_id, events)
            store.update_run(run_id, active_seconds=30.0)
        if log:
            folder = self.home / "runs" / run_id
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "session-1.log").write_text(log)
        return run_id

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def remote(sshd: Sshd, tmp_path: Path) -> Iterator[Remote]:
    helper = Remote(sshd, tmp_path)
    yield helper
    helper.cleanup()
    # Nothing may stay behind on either side once a command ended.
    wait_for(lambda: not sshd.sessions(), 60, "the ssh sessions to close")


def leftovers(marker: str) -> list[str]:
    """Command lines of processes that mention ``marker`` (ours, still running)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if marker in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(cmdline)
    return found
