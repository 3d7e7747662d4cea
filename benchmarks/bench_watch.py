"""Benchmark of checkpoint watching: what the supervisor spends watching a working directory of
many files. Run ``python benchmarks/bench_watch.py [--files N] [--seconds S] [--pairs P]``;
prints a table.

* a working directory of ``--files`` files (default 10,000: 500 folders of 20, one in ten a
  ``.pt``), depth 3, with a script that sleeps ``--seconds`` and writes nothing;
* the CPU time (user + system) of ``backprop run`` and everything it reaped, with the default
  ``checkpoints.watch`` and with ``--no-watch-checkpoints``, in alternating pairs; the
  difference is the watcher's cost, as a share of one core over the session;
* the cost of one poll of that tree, measured in-process (the watcher's own scan, median of
  50), and what it comes to at the default interval;
* a machine-speed reference line (a fixed pure-Python loop).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import backprop, cpu_model

SLEEP = "import sys, time\ntime.sleep(float(sys.argv[1]))\n"


def make_tree(root: Path, files: int) -> None:
    per_folder = 20
    for i in range(files // per_folder):
        folder = root / f"data{i // 50}" / f"part{i % 50}" / f"shard{i}"
        folder.mkdir(parents=True)
        for j in range(per_folder):
            suffix = ".pt" if j == 0 and i % 2 == 0 else ".txt"
            (folder / f"f{j}{suffix}").write_bytes(b"x")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def session_cpu(work: Path, home: Path, seconds: float, watch: bool) -> float:
    """CPU seconds of one ``backprop run`` of the sleeping script and all it reaped."""
    env = {
        **os.environ,
        "BACKPROP_HOME": str(home),
        "BACKPROP_GPU__PROBE": "none",
        "BACKPROP_MIN_FREE_RAM_GB": "0",
    }
    flags = [] if watch else ["--no-watch-checkpoints"]
    before = children_cpu()
    subprocess.run(
        backprop("run", *flags, "sleep.py", str(seconds)),
        cwd=work,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return children_cpu() - before


def poll_cost(work: Path, home: Path) -> float:
    """Seconds of one poll of the checkpoints watcher over ``work`` (median of 50)."""
    from backprop_checkpoint_watch.watcher import CheckpointWatcher
    from backprop_core.launch.spec import WatchContext
    from backprop_core.settings.model import Settings

    settings = Settings.from_config({}, home=home)
    context = WatchContext(
        run_id="bench",
        session=1,
        cwd=work,
        home=home,
        settings=settings,
        created_at=time.time(),
        started_at=time.time(),
    )
    watcher = CheckpointWatcher.create(context)
    assert watcher is not None
    times = []
    for _ in range(50):
        start = time.process_time()
        watcher.poll(time.time())
        times.append(time.process_time() - start)
    return statistics.median(times)


def reference() -> float:
    start = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i * i
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pairs", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"reference: 2M-iteration Python loop {reference() * 1000:.0f} ms")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work, home = Path(tmp) / "work", Path(tmp) / "home"
        work.mkdir()
        make_tree(work, args.files)
        (work / "sleep.py").write_text(SLEEP)
        on, off = [], []
        for _ in range(args.pairs):
            off.append(session_cpu(work, home, args.seconds, watch=False))
            on.append(session_cpu(work, home, args.seconds, watch=True))
        poll = poll_cost(work, home)
    from backprop_core.settings.model import CheckpointSettings

    interval = CheckpointSettings().poll_seconds
    extra = statistics.median(on) - statistics.median(off)
    print(f"tree: {args.files:,} files; sessions of {args.seconds:g} s; load average {load:.1f}")
    print()
    print("| case | CPU s per session (median) | share of one core |")
    print("|---|---|---|")
    for label, values in (("--no-watch-checkpoints", off), ("watching (default)", on)):
        cpu = statistics.median(values)
        print(
            f"| {label} | {cpu:.2f} ({', '.join(f'{v:.2f}' for v in values)}) "
            f"| {cpu / args.seconds:.2%} |"
        )
    print(f"| difference: the watcher | {extra:+.2f} | {extra / args.seconds:+.2%} |")
    print(
        f"| one poll, in-process | {poll * 1000:.1f} ms | {poll / interval:.2%} "
        f"(every {interval:g} s) |"
    )


if __name__ == "__main__":
    main()
