"""Fixtures for the viewer: a real SQLite store in a temporary home, a real uvicorn server on a
free port, and a headless Chromium driven by Playwright."""

from __future__ import annotations

import math
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backprop_core.admission.resources import GpuInfo, HostInfo, Snapshot
from backprop_core.events.event import Event
from backprop_core.settings.model import Settings
from backprop_core.store.contract import Store
from backprop_core.store.opening import open_store
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord
from backprop_core.units import GIB, MIB
from tests.conftest import wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "viewer"


def make_settings(home: Path) -> Settings:
    return Settings.from_config({"gpu": {"probe": "none"}}, home)


def fake_snapshot() -> Snapshot:
    """Two GPUs as a probe on a GPU box would report them (no GPU exists here)."""
    gpus = (
        GpuInfo(
            index=0,
            uuid="GPU-aaaa",
            name="Fake GPU A",
            memory_total_bytes=16 * GIB,
            memory_used_bytes=6 * GIB,
            memory_free_bytes=10 * GIB,
            temperature_c=61,
            utilization_pct=87,
        ),
        GpuInfo(
            index=1,
            uuid="GPU-bbbb",
            name="Fake GPU B",
            memory_total_bytes=16 * GIB,
            memory_used_bytes=512 * MIB,
            memory_free_bytes=16 * GIB - 512 * MIB,
            temperature_c=38,
            utilization_pct=0,
        ),
    )
    host = HostInfo("trainbox", 16, 3.2, 64 * GIB, 40 * GIB)
    return Snapshot(
        taken_at=time.time(), host=host, gpu_probe="example", gpus=gpus, driver_version="550.0"
    )


class Seeder:
    """Fills a real store through the Store API, as ``backprop run`` would."""

    def __init__(self, store: Store, home: Path) -> None:
        self.store = store
        self.home = home
        self.t0 = time.time() - 3600
        self.n = 0

    def run(
        self,
        name: str | None = None,
        *,
        status: RunStatus = RunStatus.COMPLETED,
        steps: int = 50,
        keys: tuple[str, ...] = ("loss", "acc"),
        tags: dict[str, str] | None = None,
        log_lines: int = 20,
        gpus: list[str] | None = None,
        offset: float = 0.0,
    ) -> str:
        self.n += 1
        created = self.t0 + self.n * 10 + offset
        run_id = f"20261123-{120000 + self.n:06d}-t{self.n:03d}"
        self.store.create_run(
            RunRecord(
                id=run_id,
                status=status,
                created_at=created,
                started_at=created,
                name=name,
                ended_at=None if status.active else created + 60,
                active_seconds=60.0,
                tags=tags or {},
                script="train.py",
                argv=["--lr", "0.1"],
                cwd="/home/ada/mnist",
                framework="pytorch",
                environment={"python": "3.11.4"},
            )
        )
        ended = None if status.active else created + 60
        self.store.add_session(
            SessionRecord(
                run_id=run_id,
                number=1,
                status=status,
                started_at=created,
                ended_at=ended,
                host="trainbox",
                gpus=gpus or [],
                active_seconds=60.0,
            )
        )
        self.points(run_id, 0, steps, keys, created, scale=1.0 + 0.5 * self.n)
        run_dir = self.home / "runs" / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "session-1.log").write_text(
            "".join(f"epoch {i}: training…\n" for i in range(log_lines))
        )
        return run_id

    def points(
        self,
        run_id: str,
        start: int,
        stop: int,
        keys: tuple[str, ...] = ("loss", "acc"),
        t: float | None = None,
        scale: float = 1.0,
    ) -> None:
        """Metric events for steps ``start..stop-1``: a decaying loss, a rising accuracy."""
        t = time.time() if t is None else t
        events = [
            Event("metrics", t + s, s, {"data": {k: _value(k, s, scale) for k in keys}})
            for s in range(start, stop)
        ]
        if events:
            self.store.append_events(run_id, events)


def _value(key: str, step: int, scale: float) -> float:
    if key == "loss":
        return 2.0 * math.exp(-step / (20 * scale)) + 0.05 * math.sin(step / 3)
    return 1.0 - math.exp(-step / (30 * scale))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    s = open_store(make_settings(home), reconcile=False)
    yield s
    s.close()


@pytest.fixture
def seed(store: Store, home: Path) -> Seeder:
    return Seeder(store, home)


class LiveServer:
    """The viewer served by uvicorn in a thread, on a free port."""

    def __init__(
        self,
        home: Path,
        token: str | None = None,
        settings: Settings | None = None,
        **app_kwargs: Any,
    ) -> None:
        import uvicorn

        from backprop_core.viewer import create_app

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        app_kwargs.setdefault("snapshot", fake_snapshot)
        app = create_app(settings or make_settings(home), token=token, **app_kwargs)
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
        )
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        headers = {"Authorization": f"token {token}"} if token else {}
        wait_for(
            lambda: (
                httpx.get(self.url + "/api/health", headers=headers, timeout=2).status_code == 200
            ),
            30,
            "viewer health",
            ignore=(httpx.HTTPError,),
        )

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def live_server(home: Path, store: Store) -> Iterator[LiveServer]:
    srv = LiveServer(home)
    yield srv
    srv.stop()


def _playwright_available() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return os.path.exists(CHROMIUM) and shutil.which(CHROMIUM) is not None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not _playwright_available():
        pytest.skip("needs Playwright and /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class ConsoleErrors(list[str]):
    """Console errors and uncaught page errors seen while a test drove a page."""


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    p = context.new_page()
    errors = ConsoleErrors()
    p.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.console_errors = errors
    yield p
    context.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
