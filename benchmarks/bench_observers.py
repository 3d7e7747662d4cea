"""What recording every run's environment and system metrics costs. Run
``python benchmarks/bench_observers.py [--quick] [--seconds S]``; prints a table.

* capture: ``EnvironmentCapture.collect()`` in this process on this repository's ``backprop``
  script (interpreter asked in a subprocess, its packages, git status and diff hash): wall time,
  and CPU time (this thread plus its helper processes), median of N;
* critical path: ``backprop run first.py`` where the script's first statement prints the time,
  with the capture on and off (``captureEnvironment``), interleaved: launch → the script's first
  statement, and the whole command for a script that ends at once (the session waits for the
  capture before its last write);
* sampling: CPU time of the supervisor (with its script, which sleeps, and the guardian: all
  measured together by ``wait4``) over S seconds of a sleeping script, with system metrics every
  10 s, every 1 s, and off, the three running side by side; the difference to "off" is what
  sampling costs, as a share of one core.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import backprop, cpu_model

REPO = Path(__file__).resolve().parents[1]
FIRST = "import time; print(repr(time.time()), flush=True)\n"
SLEEPER = "import sys, time; time.sleep(float(sys.argv[1]))\n"


def reference(n: int) -> float:
    """``python -c pass``: the machine-speed reference line."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def capture_cost(n: int, python: str) -> tuple[float, float]:
    """Median wall and CPU seconds of one capture (thread CPU plus its helper processes) for a
    script run by ``python``."""
    from backprop_core.launch.spec import LaunchSpec
    from backprop_core.settings.model import Settings
    from backprop_core.supervisor.capture import EnvironmentCapture

    script = Path("src/backprop_core/cli/__main__.py")
    spec = LaunchSpec(
        run_id="bench",
        session=1,
        argv=[python, str(script)],
        cwd=REPO,
        env={},
        settings=Settings(home=REPO / "unused"),
        script=script,
    )
    capture = EnvironmentCapture(spec, lambda events: None, lambda pid: None, lambda: None)
    walls, cpus = [], []
    for _ in range(n):
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = time.thread_time()
        start = time.perf_counter()
        env = capture.collect()
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
        cpus.append(time.thread_time() - cpu + used)
    assert env["python"] and env["packages"], env
    return statistics.median(walls), statistics.median(cpus)


def sample_cost(n: int) -> float:
    """Median CPU seconds of one ``SystemSampler.sample()`` on a real two-process tree (a child
    and its own child), with one GPU in the governor's reading."""
    from backprop_core.admission.resources import GpuInfo, HostInfo, Snapshot
    from backprop_core.supervisor.process import ProcessTree
    from backprop_core.supervisor.sampler import SystemSampler

    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; "
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            "time.sleep(60)",
        ]
    )
    try:
        time.sleep(1.0)
        tree = ProcessTree(child.pid)
        tree.refresh()
        gpu = GpuInfo(0, memory_used_bytes=1 << 30, temperature_c=50, utilization_pct=30)
        host = HostInfo("bench", 2, 0.0, 1 << 34, 1 << 33)
        snapshot = Snapshot(time.time(), host, "bench", (gpu,))
        sampler = SystemSampler(10, 1, tree, (0,), lambda: snapshot, lambda events: None)
        costs = []
        for _ in range(n):
            start = time.thread_time()
            data = sampler.sample()
            costs.append(time.thread_time() - start)
        assert "sys/gpu0/util_pct" in data and len(tree.alive()) == 2, data
        return statistics.median(costs)
    finally:
        for proc in ProcessTree(child.pid).alive():
            proc.kill()
        child.wait()


def critical_path(work: Path, env: dict[str, str], n: int) -> dict[str, dict[str, float]]:
    """Launch → first statement, and the whole command, with the capture on and off."""
    (work / "first.py").write_text(FIRST)
    out: dict[str, dict[str, list[float]]] = {
        mode: {"first": [], "total": []} for mode in ("on", "off")
    }
    for i in range(n * 2 + 2):
        mode = "on" if i % 2 == 0 else "off"
        run_env = {**env, "BACKPROP_CAPTURE_ENVIRONMENT": "true" if mode == "on" else "false"}
        start_wall = time.time()
        start = time.perf_counter()
        done = subprocess.run(
            backprop("run", "first.py"), env=run_env, cwd=work, capture_output=True, text=True
        )
        total = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(done.stderr[-2000:])
        first = float(done.stdout.strip().splitlines()[0]) - start_wall
        if i >= 2:  # the first pair warms the caches
            out[mode]["first"].append(first)
            out[mode]["total"].append(total)
    return {m: {k: statistics.median(v) for k, v in d.items()} for m, d in out.items()}


def supervisor_cpu(
    work: Path, env: dict[str, str], every: str, seconds: float, out: dict[str, Any]
) -> None:
    run_env = {
        **env,
        "BACKPROP_SYSTEM_METRICS__EVERY_SECONDS": every,
        "BACKPROP_CAPTURE_ENVIRONMENT": "false",
        "BACKPROP_HOME": str(work / f"home-{every}"),
    }
    proc = subprocess.Popen(
        backprop("run", "-m", "0", "sleeper.py", str(seconds)),
        env=run_env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out[every] = usage.ru_utime + usage.ru_stime
    from backprop_core.settings.model import Settings
    from backprop_core.store.opening import open_store

    with open_store(Settings.from_config({}, home=work / f"home-{every}")) as store:
        run = store.list_runs()[0]
        out[every + "-samples"] = store.metric_series(run.id, "sys/cpu_pct").total


def sampling(work: Path, env: dict[str, str], seconds: float) -> dict[str, Any]:
    (work / "sleeper.py").write_text(SLEEPER)
    out: dict[str, Any] = {}
    threads = [
        threading.Thread(target=supervisor_cpu, args=(work, env, every, seconds, out))
        for every in ("10", "1", "0")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--seconds", type=float, default=180.0, help="sleeping script's length")
    args = parser.parse_args()
    n = 5 if args.quick else 15
    seconds = min(args.seconds, 30.0) if args.quick else args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(
            BACKPROP_HOME=str(work / "home"),
            BACKPROP_GPU__PROBE="none",
            BACKPROP_MIN_FREE_RAM_GB="0",
            BACKPROP_GOVERNOR__PAUSE_BELOW_FREE_RAM_GB="0",
        )
        ref = reference(n)
        per_sample = sample_cost(200)
        wall, cpu = capture_cost(n, sys.executable)
        other = os.path.realpath(sys.executable)  # the same Python under another name: asked
        other_wall, other_cpu = capture_cost(n, other if other != sys.executable else "python3")
        path = critical_path(work, env, n)
        sampled = sampling(work, env, seconds)
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}")
    rows = [
        ("reference: python -c pass (median)", f"{ref * 1000:.0f} ms", ""),
        ("environment capture: wall (median)", f"{wall * 1000:.0f} ms", "goal ≤ 100 ms"),
        ("environment capture: CPU incl. helpers (median)", f"{cpu * 1000:.0f} ms", ""),
        ("  script in another interpreter: wall", f"{other_wall * 1000:.0f} ms", "asked"),
        ("  script in another interpreter: CPU", f"{other_cpu * 1000:.0f} ms", ""),
    ]
    for label, key in (
        ("launch → script's first statement", "first"),
        ("backprop run first.py, whole", "total"),
    ):
        on, off = path["on"][key], path["off"][key]
        rows.append((f"{label}: capture off", f"{off * 1000:.0f} ms", ""))
        rows.append((f"{label}: capture on", f"{on * 1000:.0f} ms", f"{(on - off) * 1000:+.0f} ms"))
    rows.append(
        (
            "one system sample, CPU (median of 200)",
            f"{per_sample * 1e6:.0f} µs",
            f"every 10 s: {100 * per_sample / 10:.4f}% of a core (goal ≤ 1%)",
        )
    )
    off = sampled["0"]
    for every in ("10", "1"):
        extra = sampled[every] - off
        rows.append(
            (
                f"supervisor CPU over {seconds:.0f} s, sampling every {every} s",
                f"{sampled[every]:.2f} s",
                f"{extra * 1000:+.0f} ms = {100 * extra / seconds:.3f}% of a core "
                f"({sampled[every + '-samples']} samples; goal ≤ 1%)",
            )
        )
    rows.append((f"supervisor CPU over {seconds:.0f} s, sampling off", f"{off:.2f} s", ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>9}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>9}  {note}")


if __name__ == "__main__":
    main()
