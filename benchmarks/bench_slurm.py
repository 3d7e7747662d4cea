"""Slurm launcher benchmark: how long a run takes to start as a job, to chain, and to stop.

    python benchmarks/bench_slurm.py [--repeat 5]

Needs root and Debian's slurm-wlm and munge: it starts the same one-node cluster on loopback as
the tests (``tests/slurm/cluster.py``) and stops it at the end. Every figure is a median over
``--repeat`` runs, one at a time, next to its peer measured in the same run:

- ``start``: from the start of ``backprop run --launcher slurm`` to (a) its return, (b) the
  first line of the training script; peer: ``sbatch --wrap`` of a plain Python script, to its
  first line.
- ``chain``: ``--until-done``, from the end of one session (its script's last line) to the
  first line of the next, a dependent job; peer: a plain job that requeues itself
  (``scontrol requeue``), from the requeue to its restart's first line.
- ``stop``: ``backprop stop`` on a running job: to the script's SIGTERM, to its exit, to the
  command's return (the run recorded ``interrupted``); peer: ``scancel`` of a plain job, to its
  SIGTERM. And the time box: from the script's start to its SIGTERM (box 6 s), and for a script
  that ignores SIGTERM, to its death (grace 2 s).
- a machine-speed reference: a fixed pure-Python loop.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from _common import backprop, cpu_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.slurm.cluster import SlurmCluster

#: Appends "<what> <unix time>" lines to $BENCH_TIMES: start, term (SIGTERM arrived), exit.
SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys, time
    out = open(os.environ["BENCH_TIMES"], "a", buffering=1)
    out.write(f"start {time.time()}\\n")
    stubborn = "--stubborn" in sys.argv
    stop = []
    def term(*_):
        out.write(f"term {time.time()}\\n")
        stop.append(1)
    signal.signal(signal.SIGTERM, term)
    resume = os.environ.get("BACKPROP_RESUME_FROM")
    step = int(open(resume).read()) if resume else 0
    while True:
        step += 1
        print(json.dumps({"step": step}), flush=True)
        if stop and not stubborn:
            path = os.path.join(os.environ.get("BACKPROP_CHECKPOINT_DIR", "."), f"step-{step}")
            open(path, "w").write(str(step))
            print(json.dumps({"event": "checkpoint_saved", "path": path, "step": step}), flush=True)
            out.write(f"exit {time.time()}\\n")
            raise SystemExit(0)
        if os.environ.get("BACKPROP_SESSION") == "3":
            print(json.dumps({"event": "done"}), flush=True)
            out.write(f"exit {time.time()}\\n")
            raise SystemExit(0)
        time.sleep(0.05)
    """
)

HELLO = 'import os, time\nopen(os.environ["BENCH_TIMES"], "a").write(f"start {time.time()}\\n")\n'

REQUEUER = textwrap.dedent(
    """
    import os, subprocess, time
    out = open(os.environ["BENCH_TIMES"], "a", buffering=1)
    out.write(f"start {time.time()}\\n")
    if os.environ.get("SLURM_RESTART_COUNT", "0") == "0":
        time.sleep(1)
        out.write(f"requeue {time.time()}\\n")
        subprocess.run(["scontrol", "requeue", os.environ["SLURM_JOB_ID"]])
        time.sleep(60)
    """
)


def reference_ms() -> float:
    started = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i % 7
    return (time.perf_counter() - started) * 1000


class Bench:
    def __init__(self, base: Path, cluster: SlurmCluster) -> None:
        self.base = base
        self.work = base / "work"
        self.work.mkdir()
        (self.work / "train.py").write_text(SCRIPT)
        (self.work / "requeuer.py").write_text(REQUEUER)
        (self.work / "hello.py").write_text(HELLO)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")}
        self.env.update(
            cluster.env,
            BACKPROP_HOME=str(base / "home"),
            BACKPROP_GPU__PROBE="none",
            BACKPROP_MIN_FREE_RAM_GB="0",
            BACKPROP_GOVERNOR__PAUSE_BELOW_FREE_RAM_GB="0",
            BACKPROP_SLURM__SIGNAL_MARGIN_SECONDS="20",
            XDG_CONFIG_HOME=str(base / "xdg"),
        )
        self.n = 0

    def times_file(self) -> Path:
        self.n += 1
        return self.base / f"times-{self.n}.txt"

    def run(self, argv: list[str], times: Path) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "BENCH_TIMES": str(times)}
        return subprocess.run(
            argv, cwd=self.work, env=env, capture_output=True, text=True, timeout=300
        )

    def start(self, argv: list[str], times: Path) -> subprocess.Popen[str]:
        env = {**self.env, "BENCH_TIMES": str(times)}
        return subprocess.Popen(argv, cwd=self.work, env=env, text=True, stdout=subprocess.PIPE)


def read_times(
    path: Path, timeout: float = 240, need: Callable[[list[tuple[str, float]]], bool] = bool
) -> list[tuple[str, float]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            rows = [
                (w, float(t))
                for w, t in (line.split() for line in path.read_text().splitlines() if line)
            ]
            if need(rows):
                return rows
        time.sleep(0.02)
    raise TimeoutError(f"{path} never had what was needed")


def first(rows: list[tuple[str, float]], what: str, nth: int = 0) -> float:
    return [t for w, t in rows if w == what][nth]


def has(what: str, count: int = 1) -> Callable[[list[tuple[str, float]]], bool]:
    return lambda rows: sum(1 for w, _ in rows if w == what) >= count


def wait_quiet(cluster: SlurmCluster) -> None:
    while cluster.client("squeue", "-h").stdout.strip():
        time.sleep(0.2)


def bench_start(b: Bench, cluster: SlurmCluster) -> dict[str, float]:
    times = b.times_file()
    t0 = time.time()
    done = b.run(
        backprop("run", "--launcher", "slurm", "-m", "0.05", "--grace", "2", "train.py"), times
    )
    returned = time.time()
    assert done.returncode == 0, done.stderr
    rows = read_times(times, need=has("start"))
    wait_quiet(cluster)
    plain = b.times_file()
    p0 = time.time()
    b.run(["sbatch", "--wrap", f"{sys.executable} hello.py", "--output=/dev/null"], plain)
    plain_rows = read_times(plain, need=has("start"))
    wait_quiet(cluster)
    return {
        "backprop run returns": returned - t0,
        "backprop run → script's first line": first(rows, "start") - t0,
        "sbatch --wrap → script's first line (peer)": first(plain_rows, "start") - p0,
    }


def bench_chain(b: Bench, cluster: SlurmCluster) -> dict[str, float]:
    times = b.times_file()
    done = b.run(
        backprop(
            "run",
            "--launcher",
            "slurm",
            "-m",
            "0.05",
            "--grace",
            "2",
            "--until-done",
            "--wait",
            "train.py",
        ),
        times,
    )
    assert done.returncode == 0, done.stderr
    rows = read_times(times, need=has("start", 3))
    gaps = [first(rows, "start", k + 1) - first(rows, "exit", k) for k in range(2)]
    wait_quiet(cluster)
    plain = b.times_file()
    b.run(
        ["sbatch", "--requeue", "--wrap", f"{sys.executable} requeuer.py", "--output=/dev/null"],
        plain,
    )
    prow = read_times(plain, need=has("start", 2))
    wait_quiet(cluster)
    return {
        "--until-done: session end → next session's first line": statistics.median(gaps),
        "scontrol requeue → restart's first line (peer)": first(prow, "start", 1)
        - first(prow, "requeue"),
    }


def bench_stop(b: Bench, cluster: SlurmCluster) -> dict[str, float]:
    times = b.times_file()
    name = f"stop{b.n}"
    done = b.run(
        backprop("run", "--launcher", "slurm", "-n", name, "-m", "10", "--grace", "5", "train.py"),
        times,
    )
    assert done.returncode == 0, done.stderr
    read_times(times, need=has("start"))
    time.sleep(1)
    t0 = time.time()
    stopped = b.run(backprop("stop", name), times)
    returned = time.time()
    assert stopped.returncode == 0, stopped.stderr
    rows = read_times(times, need=has("exit"))
    wait_quiet(cluster)
    plain = b.times_file()
    job = b.run(
        [
            "sbatch",
            "--parsable",
            "--wrap",
            f"{sys.executable} train.py --stubborn",
            "--output=/dev/null",
        ],
        plain,
    ).stdout.strip()
    read_times(plain, need=has("start"))
    time.sleep(1)
    p0 = time.time()
    cluster.client("scancel", job)
    prow = read_times(plain, need=has("term"))
    wait_quiet(cluster)
    box = b.times_file()
    b.run(backprop("run", "--launcher", "slurm", "-m", "0.1", "--grace", "2", "train.py"), box)
    brow = read_times(box, need=has("exit"))
    stubborn = b.times_file()
    name = f"stubborn{b.n}"
    argv = ("run", "--launcher", "slurm", "-n", name, "-m", "0.1", "--grace", "2")
    b.run(backprop(*argv, "train.py", "--stubborn"), stubborn)
    srow = read_times(stubborn, need=has("term"))
    wait_quiet(cluster)
    shown = b.run(backprop("show", name, "--json"), stubborn)
    session = json.loads(shown.stdout)["sessions"][0]
    return {
        "backprop stop → script's SIGTERM": first(rows, "term") - t0,
        "backprop stop → script's exit (checkpoint saved)": first(rows, "exit") - t0,
        "backprop stop → returns, run recorded interrupted": returned - t0,
        "scancel → script's SIGTERM (peer, plain job)": first(prow, "term") - p0,
        "time box 6 s: script start → its SIGTERM": first(brow, "term") - first(brow, "start"),
        "ignores SIGTERM, grace 2 s: SIGTERM → session end (SIGKILL)": session["ended_at"]
        - first(srow, "term"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"# {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("# load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"# reference: a fixed pure-Python loop takes {reference_ms():.0f} ms")
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cluster = SlurmCluster(Path(tmp) / "cluster", name="bpbench").start()
        print(
            f"# Slurm {cluster.client('sinfo', '--version').stdout.strip()}, one node on loopback"
        )
        try:
            bench = Bench(Path(tmp), cluster)
            for _ in range(args.repeat):
                for part in (bench_start, bench_chain, bench_stop):
                    for key, value in part(bench, cluster).items():
                        results.setdefault(key, []).append(value)
        finally:
            cluster.stop()
    width = max(len(k) for k in results)
    print(f"{'measure (seconds)':<{width}}  median     min     max")
    for key, values in results.items():
        low, mid, high = min(values), statistics.median(values), max(values)
        print(f"{key:<{width}}  {mid:6.2f}  {low:6.2f}  {high:6.2f}")
    print("# load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
