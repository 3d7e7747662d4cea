"""Viewer benchmark: 10,000 runs and a 1,000,000-point metric in a real SQLite store.

Measures, in a real headless Chromium (Debian's ``chromium`` driven by Playwright):

- the runs page's first render (navigation to the table drawn and scripts ready);
- the run page with the 1,000,000-point metric until its chart is drawn;
- ``GET /api/runs?limit=100`` (median over many requests);
- how long a point logged to the store takes to reach the open run page.

For comparison it also times the metric fetched with far less downsampling (100,000 points).

    python benchmarks/bench_viewer.py [--runs 10000] [--points 1000000]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import SpeedReference, backprop, cpu_model

from backprop_core.events.event import Event
from backprop_core.settings.model import Settings
from backprop_core.store.contract import Store
from backprop_core.store.opening import open_store
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord

# Users have byte-code caches; without them every timed start would recompile every module.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def fill(store: Store, runs: int, points: int) -> tuple[str, str]:
    t0 = time.time() - runs * 60
    for i in range(runs):
        run_id = f"20261101-{i:06d}-b{i % 1000:03d}"
        store.create_run(
            RunRecord(
                id=run_id,
                status=RunStatus.COMPLETED,
                created_at=t0 + i * 60,
                started_at=t0 + i * 60,
                name=f"sweep-{i}",
                tags={"sweep": str(i % 10)},
                script="train.py",
            )
        )
        store.append_events(
            run_id,
            [Event("metrics", t0 + i * 60, 10, {"data": {"loss": 1.0 / (i + 1), "acc": 0.5}})],
        )
    big = "20261101-big-run"
    live = "20261101-live-run"
    now = time.time()
    store.create_run(
        RunRecord(id=big, status=RunStatus.COMPLETED, created_at=now, name="one-million")
    )
    batch = 20_000
    for start in range(0, points, batch):
        store.append_events(
            big,
            [
                Event(
                    "metrics",
                    now + s * 0.001,
                    s,
                    {"data": {"loss": 1.0 / (1 + s / 1000) + (5.0 if s == 654_321 else 0.0)}},
                )
                for s in range(start, min(points, start + batch))
            ],
        )
    store.create_run(RunRecord(id=live, status=RunStatus.RUNNING, created_at=now + 1, name="live"))
    store.add_session(
        SessionRecord(run_id=live, number=1, status=RunStatus.RUNNING, started_at=now)
    )
    store.append_events(
        live, [Event("metrics", now, s, {"data": {"loss": 1.0 / (s + 1)}}) for s in range(100)]
    )
    return big, live


class Server:
    """``backprop ui`` in its own process, as a user runs it."""

    def __init__(self, home: Path) -> None:
        env = {**os.environ, "BACKPROP_HOME": str(home), "BACKPROP_GPU__PROBE": "none"}
        self.proc = subprocess.Popen(
            backprop("ui", "--no-open", "--port", "0"),
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        match = re.search(r"(http://[^/\s]+)", self.proc.stdout.readline())
        if not match:
            raise SystemExit("backprop ui printed no URL")
        self.url = match.group(1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/api/health").status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise SystemExit("viewer did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def timed_get(client: httpx.Client, url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(url)
        out.append(time.perf_counter() - t)
        r.raise_for_status()
    return out


def browser_timings(
    url: str, big: str, live: str, store: Store, repeats: int
) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    res: dict[str, list[float]] = {"runs page": [], "1M chart": [], "live point": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        # bypass_csp only so that Playwright's wait_for_function (an eval) may run in the page
        page = browser.new_page(viewport={"width": 1366, "height": 900}, bypass_csp=True)
        page.goto(url + "/")  # warm up the browser and the server
        for _ in range(repeats):
            t = time.perf_counter()
            page.goto(url + "/")
            page.wait_for_selector("body[data-ready=true]")
            res["runs page"].append(time.perf_counter() - t)
        for _ in range(repeats):
            t = time.perf_counter()
            page.goto(f"{url}/runs/{big}")
            page.wait_for_selector('.chart[data-key="loss"] canvas')
            res["1M chart"].append(time.perf_counter() - t)
        page.goto(f"{url}/runs/{live}")
        page.wait_for_selector('.chart[data-key="loss"] canvas')
        page.wait_for_function(
            "document.getElementById('conn') && !document.getElementById('conn').hidden"
        )
        time.sleep(1.0)  # let the stream settle
        step = 1000
        for _ in range(repeats * 2):
            step += 1
            before = int(page.get_attribute('.chart[data-key="loss"]', "data-points") or 0)
            t = time.perf_counter()
            store.append_events(
                live, [Event("metrics", time.time(), step, {"data": {"loss": 0.01}})]
            )
            page.wait_for_function(
                "parseInt(document.querySelector('.chart[data-key=\"loss\"]').dataset.points)"
                f" > {before}",
                polling="raf",
                timeout=10_000,
            )
            res["live point"].append(time.perf_counter() - t)
            time.sleep(0.2)
        browser.close()
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    speed = SpeedReference()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        settings = Settings.from_config({"gpu": {"probe": "none"}}, home)
        store = open_store(settings, reconcile=False)
        t = time.perf_counter()
        big, live = fill(store, args.runs, args.points)
        print(
            f"filled {args.runs} runs and a {args.points}-point metric"
            f" in {time.perf_counter() - t:.1f}s",
            file=sys.stderr,
        )
        server = Server(home)
        try:
            with httpx.Client() as client:
                timed_get(client, server.url + "/api/runs?limit=100", 5)
                api = timed_get(client, server.url + "/api/runs?limit=100", 100)
                metrics = timed_get(
                    client,
                    f"{server.url}/api/runs/{big}/metrics?keys=loss&max_points=2000",
                    args.repeats,
                )
                full = timed_get(
                    client,
                    f"{server.url}/api/runs/{big}/metrics?keys=loss&max_points=100000",
                    args.repeats,
                )
                body = client.get(
                    f"{server.url}/api/runs/{big}/metrics?keys=loss&max_points=2000"
                ).json()
                spike_kept = (
                    max(v for v in body["series"]["loss"]["values"] if isinstance(v, float)) > 5
                )
            browser: dict[str, list[float]] = {}
            if os.path.exists(CHROMIUM):
                browser = browser_timings(server.url, big, live, store, args.repeats)
        finally:
            server.stop()
            store.close()

    def row(name: str, values: list[float], target: str) -> str:
        med = statistics.median(values) * 1000
        return f"| {name} | {med:.1f} | {max(values) * 1000:.1f} | {len(values)} | {target} |"

    print(
        f"Machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}, "
        f"{args.runs} runs, {args.points:,}-point metric, SQLite store"
    )
    print("| measurement | median ms | max ms | n | target |")
    print("|---|---:|---:|---:|---|")
    print(row("`GET /api/runs?limit=100`", api, "≤ 50 ms median"))
    print(row("`GET /metrics` 1M points → 2,000 (min/max kept)", metrics, "—"))
    print(row("`GET /metrics` 1M points → 100,000 (for comparison)", full, "—"))
    if browser:
        print(row("runs page first render (Chromium)", browser["runs page"], "≤ 1000 ms"))
        print(row("run page, 1M-point chart drawn (Chromium)", browser["1M chart"], "≤ 1000 ms"))
        print(
            row("live point: logged → drawn on the open page", browser["live point"], "≤ 1000 ms")
        )
    else:
        print("(no /usr/bin/chromium: browser timings skipped)")
    print(f"spike at step 654,321 kept after downsampling to 2,000 points: {spike_kept}")
    print(speed.line())


if __name__ == "__main__":
    main()
