"""Store benchmark: listing, downsampled series reads and batched appends, SQLite vs JSON vs
PostgreSQL, side by side in one run on the same data.

    python benchmarks/bench_store.py [--runs 10000] [--points 1000000] [--repeat 10]
                                     [--stores sqlite,json,postgres]

What is measured (each a median of ``--repeat`` runs unless said otherwise):

- ``list``: ``backprop list --limit 50`` end to end, as a subprocess (interpreter start-up,
  plugin loading, settings, liveness check, query, printing), on a store holding ``--runs`` runs
  (each with one session, one metrics event and one checkpoint) plus one run with a
  ``--points``-point series. ``backprop --version`` is timed beside it as the start-up floor.
- ``series``: ``metric_series(run, "loss", max_points=2000)`` on that ``--points``-point series
  (min/max-preserving downsampling), warm store object.
- ``append``: ``append_events`` into a fresh store: 100 batches of 1,000 ``metrics`` events
  with 10 keys each (1,000,000 points), i.e. what a supervisor flushing its buffer does.
- ``append x4``: four client processes at once, each doing the same into a run of its own
  (started together; total points over the time from the first start to the last end).

PostgreSQL runs on a throwaway server started here from the distribution's packages (as the
tests start theirs), with its default durability (every commit flushed to disk), on the same
machine, over loopback TCP; the client is the same process as for the other stores.

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
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import SpeedReference, backprop, cpu_model, fixed_loop_ms

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


def append_rate(store: Store, batches: int, run_id: str = "append") -> float:
    store.create_run(RunRecord(id=run_id, status=RunStatus.RUNNING, created_at=time.time()))
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
        store.append_events(run_id, batch)
    return batches * 10_000 / (time.perf_counter() - started)


def append_worker(store_name: str, home: str, run_id: str, go: str, batches: int) -> None:
    """One of the ``append x4`` clients: prepare, wait for ``go``, append, print the times."""
    store = get_plugins().store_class(store_name)(Path(home))
    store.create_run(RunRecord(id=run_id, status=RunStatus.RUNNING, created_at=time.time()))
    prepared = [
        [
            Event(
                "metrics",
                time.time(),
                b * 1000 + i,
                {"data": {f"m{k}": random.random() for k in range(10)}},
            )
            for i in range(1000)
        ]
        for b in range(batches)
    ]
    store.metric_keys(run_id)  # connected before the start
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    started = time.time()
    for batch in prepared:
        store.append_events(run_id, batch)
    print(started, time.time(), flush=True)


def parallel_rate(store_name: str, home: Path, clients: int, batches: int) -> float:
    """Total points per second of ``clients`` processes appending at once."""
    go = home.parent / f"go-{home.name}"
    argv = [sys.executable, __file__, "--append-worker", store_name, str(home)]
    procs = [
        subprocess.Popen([*argv, f"w{c}", str(go), str(batches)], stdout=subprocess.PIPE, text=True)
        for c in range(clients)
    ]
    for proc in procs:  # each has prepared its batches and connected (not timed)
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    go.write_text("go")
    spans = [tuple(map(float, p.communicate(timeout=1800)[0].split())) for p in procs]
    return clients * batches * 10_000 / (max(e for _, e in spans) - min(s for s, _ in spans))


def list_time(home: Path, store_name: str, repeat: int, *args: str) -> float:
    env = dict(
        os.environ, BACKPROP_HOME=str(home), BACKPROP_STORE=store_name, BACKPROP_GPU__PROBE="none"
    )
    cmd = backprop(*args)
    subprocess.run(cmd, env=env, check=True, capture_output=True)  # warm the page cache
    return median_time(
        lambda: subprocess.run(cmd, env=env, check=True, capture_output=True), repeat
    )


def bench(
    name: str, store_name: str, runs: int, points: int, repeat: int, base: Path
) -> dict[str, object]:
    """Every measure for one store (``store_name``: a plugin name or a URL)."""
    cls = get_plugins().store_class(store_name)
    home = base / name
    store = cls(home)
    store.home.ensure()
    started = time.perf_counter()
    if name == "json":
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
    batches = 10 if name == "json" else 100
    fresh = cls(base / f"{name}-append")
    fresh.home.ensure()
    out["append_pts_s"] = append_rate(fresh, batches)
    out["append_points"] = batches * 10_000
    if name != "json":
        out["append4_pts_s"] = parallel_rate(store_name, base / f"{name}-append4", 4, batches)
    store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--stores", default="sqlite,json,postgres")
    parser.add_argument("--append-worker", nargs=5, metavar="ARG")
    args = parser.parse_args()
    if args.append_worker:
        store_name, home, run_id, go, batches = args.append_worker
        append_worker(store_name, home, run_id, go, int(batches))
        return
    names = args.stores.split(",")
    speed = SpeedReference()
    cpu = cpu_model()
    print(f"# {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("# load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"# reference: a fixed pure-Python loop takes {fixed_loop_ms():.0f} ms")
    results: dict[str, dict[str, object]] = {}
    server = None
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        try:
            floor = list_time(base / "empty", "sqlite", args.repeat, "--version") * 1000
            for name in names:
                store_name = name
                if name == "postgres":
                    from backprop_postgres.scratch import ScratchServer

                    server = ScratchServer.start(durable=True)
                    store_name = server.create_database("bench")
                    server.create_database("bench_append")
                    server.create_database("bench_append4")
                points = args.points // 10 if name == "json" else args.points
                results[name] = bench(name, store_name, args.runs, points, args.repeat, base)
                print(f"# {name} done", flush=True)
        finally:
            if server is not None:
                server.stop()
    print("# load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    table(names, results, floor, args.runs)
    print(speed.line())


def table(names: list[str], results: dict[str, dict[str, Any]], floor: float, runs: int) -> None:
    def cells(fmt: Callable[[dict[str, Any]], str]) -> list[str]:
        return [fmt(results[n]) for n in names]

    def ratio(key: str) -> str:
        if "postgres" not in results or "sqlite" not in results:
            return ""
        return f"{results['postgres'][key] / results['sqlite'][key]:.2f}"

    rows = [
        ["backprop --version (start-up floor)", *[f"{floor:.0f} ms" for _ in names], "", ""],
        [f"list --limit 50 ({runs} runs)", *cells(lambda r: f"{r['list_ms']:.0f} ms"),
         ratio("list_ms"), "pg ≤ 1.5 x sqlite"],
        ["series → 2000 pts (json: a tenth of the points)",
         *cells(lambda r: f"{r['series_ms']:.1f} ms ({r['points']:,})"), ratio("series_ms"),
         "≤ 100 ms"],
        ["append, one client (json: a tenth)",
         *cells(lambda r: f"{r['append_pts_s']:,.0f} pts/s"), ratio("append_pts_s"),
         "≥ 200,000 pts/s"],
        ["append, four clients at once, total",
         *cells(lambda r: f"{r['append4_pts_s']:,.0f} pts/s" if "append4_pts_s" in r else ""),
         ratio("append4_pts_s"), "pg ≥ 400,000 pts/s"],
        ["filling the runs", *cells(lambda r: f"{r['fill_s']:.1f} s"), "", "(json: bulk)"],
    ]  # fmt: skip
    header = ["measure", *names, "pg/sqlite", "target"]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths)))


if __name__ == "__main__":
    main()
