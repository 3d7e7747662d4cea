"""Heartbeat benchmark: what a running session's heartbeat costs, per beat and per minute.

    python benchmarks/bench_heartbeat.py [--runs 1000] [--beats 1000] [--seconds 60]

What is measured:

- ``beat``: ``Store.beat`` called ``--beats`` times in a row on a store that holds ``--runs``
  finished runs besides the live one: wall and CPU time per beat (medians of blocks of 50), and
  the write system calls and bytes written per beat (``/proc/self/io``). Side by side: SQLite
  (one in-place ``UPDATE``), the JSON store (its small per-session file), and, as the peer both
  replace, the contract's default ``update_session``, which for the JSON store rewrites and syncs
  its whole index.
- ``supervisor``: a real ``backprop run`` supervising a sleeping script for ``--seconds``, once
  with the default heartbeat (every 5 s) and once with none to speak of (every 10^9 s), for each
  store, all four at the same time: the supervisor's CPU time and write system calls per minute
  over that window (after a 10 s settling time), from ``/proc/<pid>/stat`` and ``/proc/<pid>/io``.
- a machine-speed reference: a fixed pure-Python loop.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import backprop, cpu_model

from backprop_core.plugin.manager import get_plugins
from backprop_core.store.contract import Store
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord

INTERVAL_S = 5.0  # the default liveness.heartbeatSeconds
BLOCK = 50
SLEEPER = "import time\nwhile True:\n    time.sleep(1)\n"


def io_counters(pid: int | str = "self") -> tuple[int, int]:
    """(write system calls, bytes handed to write calls) of a process so far."""
    fields = dict(
        line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines() if line
    )
    return int(fields["syscw"]), int(fields["wchar"])


def cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    ticks = stat[stat.rindex(")") + 2 :].split()
    return (int(ticks[11]) + int(ticks[12])) / os.sysconf("SC_CLK_TCK")


def reference_ms() -> float:
    started = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i & 7
    return (time.perf_counter() - started) * 1000


def filled_store(home: Path, store_name: str, runs: int) -> Store:
    store = get_plugins().store_class(store_name)(home)
    store.home.ensure()
    t0 = time.time() - 86_400
    for i in range(runs):
        run_id = f"20260101-{i:06d}-done"
        store.create_run(RunRecord(id=run_id, status=RunStatus.COMPLETED, created_at=t0 + i))
        store.add_session(SessionRecord(run_id, 1, RunStatus.COMPLETED, t0 + i, ended_at=t0 + i))
    store.create_run(RunRecord(id="20260102-000000-live", status=RunStatus.RUNNING, created_at=t0))
    store.add_session(SessionRecord("20260102-000000-live", 1, RunStatus.RUNNING, t0))
    return store


def bench_beats(store: Store, beats: int, default: bool) -> dict[str, float]:
    beat = (
        (lambda at: Store.beat(store, "20260102-000000-live", 1, at))
        if default
        else (lambda at: store.beat("20260102-000000-live", 1, at))
    )
    walls, cpus = [], []
    calls0, bytes0 = io_counters()
    for _ in range(beats // BLOCK):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(BLOCK):
            beat(time.time())
        walls.append((time.perf_counter() - wall) / BLOCK)
        cpus.append((time.process_time() - cpu) / BLOCK)
    calls1, bytes1 = io_counters()
    n = BLOCK * (beats // BLOCK)
    return {
        "wall_ms": statistics.median(walls) * 1000,
        "cpu_ms": statistics.median(cpus) * 1000,
        "calls": (calls1 - calls0) / n,
        "bytes": (bytes1 - bytes0) / n,
    }


def bench_supervisors(base: Path, seconds: float) -> dict[tuple[str, str], dict[str, float]]:
    script = base / "sleeper.py"
    script.write_text(SLEEPER)
    procs = {}
    for store_name in ("sqlite", "json"):
        for label, interval in (("every 5 s", "5"), ("none", "1e9")):
            env = {
                **os.environ,
                "BACKPROP_HOME": str(base / f"home-{store_name}-{interval}"),
                "BACKPROP_STORE": store_name,
                "BACKPROP_GPU__PROBE": "none",
                "BACKPROP_MIN_FREE_RAM_GB": "0",
                "BACKPROP_MAX_RUN_MINUTES": "0",
                "BACKPROP_LIVENESS__HEARTBEAT_SECONDS": interval,
            }
            procs[(store_name, label)] = subprocess.Popen(
                backprop("run", str(script)),
                env=env,
                cwd=base,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
    time.sleep(10)  # start-up (imports, plugins, probes) is not the heartbeat's
    start = {k: (cpu_seconds(p.pid), *io_counters(p.pid)) for k, p in procs.items()}
    time.sleep(seconds)
    out = {}
    for key, proc in procs.items():
        cpu, calls, written = cpu_seconds(proc.pid), *io_counters(proc.pid)
        per_minute = 60 / seconds
        out[key] = {
            "cpu_ms_min": (cpu - start[key][0]) * 1000 * per_minute,
            "calls_min": (calls - start[key][1]) * per_minute,
            "kb_min": (written - start[key][2]) / 1024 * per_minute,
        }
        proc.terminate()
    for proc in procs.values():
        proc.wait(60)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--beats", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    print(f"# {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("# load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"# reference: a fixed pure-Python loop takes {reference_ms():.0f} ms")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for store_name, default in (("sqlite", False), ("json", False), ("json", True)):
            store = filled_store(base / f"{store_name}-{default}", store_name, args.runs)
            beats = args.beats if not default else max(BLOCK, args.beats // 10)
            got = bench_beats(store, beats, default)
            store.close()
            how = "update_session (contract default)" if default else "beat"
            per_min = 60 / INTERVAL_S
            rows.append(
                (
                    f"{store_name}: {how}",
                    f"{got['wall_ms']:.2f}",
                    f"{got['cpu_ms']:.2f}",
                    f"{got['calls']:.1f}",
                    f"{got['bytes'] / 1024:.2f}",
                    f"{got['cpu_ms'] * per_min:.1f}",
                    f"{got['calls'] * per_min:.0f}",
                    f"{got['bytes'] / 1024 * per_min:.1f}",
                )
            )
        supervisors = bench_supervisors(base, args.seconds)
    header = (
        f"one beat, {args.runs} runs stored",
        "wall ms",
        "CPU ms",
        "writes",
        "KiB",
        "CPU ms/min",
        "writes/min",
        "KiB/min",
    )
    _table(header, rows)
    print()
    sup_rows = [
        (
            f"{store}, heartbeat {label}",
            f"{v['cpu_ms_min']:.0f}",
            f"{v['calls_min']:.0f}",
            f"{v['kb_min']:.0f}",
        )
        for (store, label), v in supervisors.items()
    ]
    sup_header = (f"supervisor, {args.seconds:g} s window", "CPU ms/min", "writes/min", "KiB/min")
    _table(sup_header, sup_rows)
    print("# load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    sys.stdout.flush()


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths)))


if __name__ == "__main__":
    main()
