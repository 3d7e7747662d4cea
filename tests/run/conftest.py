"""Fixtures for supervised-run tests: a home, a fast environment, and ways to start backprop."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from backprop_core.settings.model import Settings
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, SessionRecord


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class Bp:
    """Runs ``backprop`` as a real subprocess against one temporary home."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "home"
        self.work = tmp_path / "work"
        self.work.mkdir()
        self.env = dict(os.environ)
        self.env.update(
            BACKPROP_HOME=str(self.home),
            BACKPROP_GPU__PROBE="none",
            BACKPROP_GOVERNOR__POLL_SECONDS="0.2",
            BACKPROP_MIN_FREE_RAM_GB="0",
            BACKPROP_GOVERNOR__PAUSE_BELOW_FREE_RAM_GB="0",
            BACKPROP_STOP__GRACE_SECONDS="2",
        )
        self.procs: list[subprocess.Popen[bytes]] = []

    def script(self, name: str, source: str) -> Path:
        path = self.work / name
        path.write_text(textwrap.dedent(source))
        return path

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "backprop_core.cli", *args]

    def run(self, *args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **kw.pop("env", {})}
        return subprocess.run(
            self.argv(*args),
            cwd=self.work,
            env=env,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            **kw,
        )

    def start(self, *args: str, **kw: Any) -> subprocess.Popen[bytes]:
        env = {**self.env, **kw.pop("env", {})}
        proc = subprocess.Popen(
            self.argv(*args),
            cwd=self.work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            **kw,
        )
        self.procs.append(proc)
        return proc

    def store(self) -> Store:
        from backprop_core.plugin.manager import reset_plugins
        from backprop_core.store.opening import open_store

        reset_plugins()
        return open_store(Settings.from_config({}, home=self.home))

    def runs(self) -> list[RunRecord]:
        with self.store() as store:
            return store.list_runs()

    def only_run(self) -> RunRecord:
        runs = self.runs()
        assert len(runs) == 1, runs
        return runs[0]

    def sessions(self, run_id: str) -> list[SessionRecord]:
        with self.store() as store:
            return store.sessions(run_id)

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


class Terminal:
    """``backprop`` on a pseudo-terminal (200 columns), read by a thread: what a person at the
    terminal sees, the live status line included."""

    def __init__(self, bp: Bp, *args: str, env: dict[str, str] | None = None) -> None:
        main, secondary = pty.openpty()
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self.proc = subprocess.Popen(
            bp.argv(*args),
            cwd=bp.work,
            env={**bp.env, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=secondary,
            stderr=secondary,
        )
        bp.procs.append(self.proc)
        os.close(secondary)
        self._main = main
        self._data = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._main, 65536)
            except OSError:  # every process holding the terminal has left
                return
            if not chunk:
                return
            with self._lock:
                self._data += chunk

    @property
    def text(self) -> str:
        with self._lock:
            return self._data.decode("utf-8", "replace")

    def status_lines(self) -> list[str]:
        """Every status line drawn so far (each one is drawn after ``\r\x1b[K``)."""
        return [part.split("\n")[0] for part in self.text.split("\r\x1b[K")[1:]]

    def wait(self, timeout: float = 120) -> int:
        rc = self.proc.wait(timeout)
        self._reader.join(10)
        os.close(self._main)
        return rc


@pytest.fixture
def bp(tmp_path: Path) -> Iterator[Bp]:
    helper = Bp(tmp_path)
    yield helper
    helper.cleanup()
