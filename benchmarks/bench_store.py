"""Store benchmark: listing, downsampled series reads and batched appends, SQLite vs JSON.

    python benchmarks/bench_store.py [--runs 10000] [--points 1000000] [--repeat 10]

What is measured (each a median of ``--repeat`` runs unless said otherwise):

- ``list``: ``backprop list --limit 50`` end to end, as a subprocess (interpreter start-up,
  plugin loading, settings, liveness check, query, printing), on a store holding ``--runs`` runs
  (each with one session, one metrics event and one checkpoint) plus one run with a
  ``--points``-point series. ``backprop --version`` is timed beside it as the start-up floor.
- ``series``: ``metric_series(run, "loss", max_points=2000)`` on that ``--points``-point series
  (min/max-preserving downsampling), warm store object.
- ``append``: ``append_events`` into a fresh store: 100 batches of 1,000 ``metrics`` events
  with 10 keys each (1,000,000 points), i.e. what a supervisor flushing its buffer does.

The JSON store rewrites its whole index on every write, so it is measured on smaller data,
said in the table: its runs are written with one bulk index write (creating 10,000 runs one by
one is quadratic), and its series and appends use a tenth of the points.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import SpeedReference, backprop, cpu_model

from backprop_core.events.event import Event
from backprop_core.plugin.manager import get_plugins
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord, run_to_dict

# Users have byte-code caches; without them every timed start would recompile every module.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_run(i: int, t0: float, **extra: Any) -> RunRecord:
    """Run ``i`` of the benchmark, the same for both stores (``extra``: fields the JSON store's
    bulk fill sets directly instead of deriving them from events)."""
    return RunRecord(
        id=f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(t0 + i * 60))}-{i % 1296:04d}",
        status=RunStatus.COMPLETED,
        created_at=t0 + i * 60,
        started_at=t0 + i * 60,
        ended_at=t0 + i * 60 + 30,
        name=f"exp-{i}",
        tags={"sweep": str(i % 10)},
        script="train.py",
        active_seconds=30.0,
        **extra,
    )


def fill_runs_sqlite(store: Store, runs: int) -> None:
    t0 = time.time() - runs * 60
    for i in range(runs):
        run_id = store.create_run(bench_run(i, t0)).id
        store.add_session(SessionRecord(run_id, 1, RunStatus.COMPLETED, t0 + i * 60))
        store.append_events(
            run_id,
            [
                Event("metrics", t0 + i * 60, 100, {"data": {"loss": random.random(), "acc": 0.5}}),
                Event("checkpoint_saved", t0 + i * 60, 100, {"path": f"ckpt-{i}.pt"}),
            ],
        )


def fill_runs_json_bulk(store: Store, runs: int) -> None:
    t0 = time.time() - runs * 60

    def add(index: dict) -> None:  # type: ignore[type-arg]
        for i in range(runs):
            run = bench_run(
                i,
                t0,
                session_count=1,
                checkpoint_count=1,
                last_metrics={"loss": random.random(), "acc": 0.5},
                last_step=100,
            )
            index["runs"][run.id] = run_to_dict(run)

    store._mutate(add)  # type: ignore[attr-defined]


def fill_series(store: Store, run_id: str, points: int) -> None:
    store.create_run(RunRecord(id=run_id, status=RunStatus.COMPLETED, created_at=time.time()))
    rng = random.Random(1)
    for start in range(0, points, 10_000):
        store.append_events(
            run_id,
            [
                Event("metrics", float(i), i, {"data": {"loss": rng.random()}})
                for i in range(start, min(points, start + 10_000))
            ],
        )


def append_rate(store: Store, batches: int) -> float:
    store.create_run(RunRecord(id="append", status=RunStatus.RUNNING, created_at=time.time()))
    prepared = [
        [
            Event(
                "metrics",
                time.time(),
                b * 1000 + i,
                {"data": {f"metric_{k}": random.random() for k in range(10)}},
            )
            for i in range(1000)
        ]
        for b in range(batches)
    ]
    started = time.perf_counter()
    for batch in prepared:
        store.append_events("append", batch)
    return batches * 10_000 / (time.perf_counter() - started)


def list_time(home: Path, store_name: str, repeat: int, *args: str) -> float:
    env = dict(
        os.environ, BACKPROP_HOME=str(home), BACKPROP_STORE=store_name, BACKPROP_GPU__PROBE="none"
    )
    cmd = backprop(*args)
    subprocess.run(cmd, env=env, check=True, capture_output=True)  # warm the page cache
    return median_time(
        lambda: subprocess.run(cmd, env=env, check=True, capture_output=True), repeat
    )


def bench(store_name: str, runs: int, points: int, repeat: int, base: Path) -> dict[str, object]:
    cls = get_plugins().store_class(store_name)
    home = base / store_name
    store = cls(home)
    store.home.ensure()
    started = time.perf_counter()
    if store_name == "json":
        fill_runs_json_bulk(store, runs)
    else:
        fill_runs_sqlite(store, runs)
    fill_time = time.perf_counter() - started
    fill_series(store, "big-series", points)
    out: dict[str, object] = {"runs": runs, "points": points, "fill_s": fill_time}
    out["list_ms"] = list_time(home, store_name, repeat, "list", "--limit", "50") * 1000
    out["series_ms"] = (
        median_time(lambda: store.metric_series("big-series", "loss", max_points=2000), repeat)
        * 1000
    )
    fresh = cls(base / f"{store_name}-append")
    fresh.home.ensure()
    out["append_pts_s"] = append_rate(fresh, 100 if store_name == "sqlite" else 10)
    out["append_points"] = 1_000_000 if store_name == "sqlite" else 100_000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    speed = SpeedReference()
    cpu = cpu_model()
    print(f"# {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("# load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        floor = list_time(base / "empty", "sqlite", args.repeat, "--version") * 1000
        sqlite = bench("sqlite", args.runs, args.points, args.repeat, base)
        json_ = bench("json", args.runs, args.points // 10, args.repeat, base)
    rows = [
        ("backprop --version (start-up floor)", f"{floor:.0f} ms", "", ""),
        (
            f"list --limit 50 ({args.runs} runs)",
            f"{sqlite['list_ms']:.0f} ms",
            f"{json_['list_ms']:.0f} ms",
            "≤ 300 ms",
        ),
        (
            f"series → 2000 pts (sqlite {sqlite['points']:,} / json {json_['points']:,} pts)",
            f"{sqlite['series_ms']:.1f} ms",
            f"{json_['series_ms']:.0f} ms",
            "≤ 100 ms",
        ),
        (
            f"append (sqlite {sqlite['append_points']:,} / json {json_['append_points']:,} pts)",
            f"{sqlite['append_pts_s']:,.0f} pts/s",
            f"{json_['append_pts_s']:,.0f} pts/s",
            "≥ 200,000 pts/s",
        ),
        ("filling the runs", f"{sqlite['fill_s']:.1f} s", f"{json_['fill_s']:.1f} s (bulk)", ""),
    ]
    print("# load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    widths = [
        max(len(r[i]) for r in [("measure", "sqlite", "json", "target"), *rows]) for i in range(4)
    ]
    for row in [("measure", "sqlite", "json", "target"), *rows]:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths)))
    print(speed.line())


if __name__ == "__main__":
    main()
