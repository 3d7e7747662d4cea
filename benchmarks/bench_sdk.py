"""SDK benchmark: 10 metrics x N steps (one call per step) through bp.log and its peers.

    python benchmarks/bench_sdk.py [--steps 100000] [--peer-steps 20000] [--mlflow-steps 1000]

Every contender runs in a fresh Python process (so imports, threads and peak RSS are its
own). Reported: points per second inside the loop (building the dicts included), p50/p99
latency of one call, wall time from the last call until the data is durable (``finish``,
``close``, ``end_run``; under ``backprop run``: until ``backprop run`` has exited with
everything stored), peak RSS of the process, and the cost of ``init`` + ``finish`` with
nothing logged, imports included, next to tensorboardX's import + ``SummaryWriter`` open +
close (each in fresh processes, interleaved). Peers that cannot run here print ``n/a (reason)``.
Goals, as ratios within the run: ``bp.log``'s loop at most 2x the bare loop; 1M points durable
at 10x W&B offline's rate or more; ``init`` + ``finish`` at most 0.33x tensorboardX's open.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Users have byte-code caches; without them every timed start would recompile every module.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

METRICS = 10
KEYS = [f"metric_{i}" for i in range(METRICS)]


# --- children: each measures one contender and prints one JSON line -------------------------
def _loop(call: Callable[[dict[str, float], int], object], steps: int) -> dict[str, Any]:
    lat: list[int] = [0] * steps
    clock = time.perf_counter_ns
    start = time.perf_counter()
    for step in range(steps):
        data = {key: step * 0.001 + j for j, key in enumerate(KEYS)}
        t0 = clock()
        call(data, step)
        lat[step] = clock() - t0
    loop_s = time.perf_counter() - start
    lat.sort()
    return {
        "steps": steps,
        "points": steps * METRICS,
        "loop_s": loop_s,
        "p50_us": lat[steps // 2] / 1000,
        "p99_us": lat[int(steps * 0.99)] / 1000,
        "last_call": time.time(),
    }


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_bare(steps: int, workdir: Path) -> dict[str, Any]:
    result = _loop(lambda data, step: None, steps)
    result["durable_s"] = 0.0
    return result


def child_bp(steps: int, workdir: Path) -> dict[str, Any]:
    import backprop_core as bp

    bp.init(name="bench")
    result = _loop(bp.log, steps)
    t = time.perf_counter()
    bp.finish()
    result["durable_s"] = time.perf_counter() - t
    return result


def child_tensorboardx(steps: int, workdir: Path) -> dict[str, Any]:
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(str(workdir / "tb"))

    def call(data: dict[str, float], step: int) -> None:
        for key, value in data.items():
            writer.add_scalar(key, value, step)

    result = _loop(call, steps)
    t = time.perf_counter()
    writer.close()
    result["durable_s"] = time.perf_counter() - t
    return result


def child_mlflow(steps: int, workdir: Path) -> dict[str, Any]:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    mlflow.start_run()
    result = _loop(lambda data, step: mlflow.log_metrics(data, step=step), steps)
    t = time.perf_counter()
    mlflow.end_run()
    result["durable_s"] = time.perf_counter() - t
    return result


def child_wandb(steps: int, workdir: Path) -> dict[str, Any]:
    os.environ["WANDB_MODE"] = "offline"
    os.environ["WANDB_SILENT"] = "true"
    import wandb

    run = wandb.init(project="bench", dir=str(workdir))

    def call(data: dict[str, float], step: int) -> None:
        run.log(data, step=step)

    result = _loop(call, steps)
    t = time.perf_counter()
    run.finish()
    result["durable_s"] = time.perf_counter() - t
    return result


def child_init_finish(steps: int, workdir: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    import backprop_core as bp

    t1 = time.perf_counter()
    bp.init()
    bp.finish()
    t2 = time.perf_counter()
    return {"import_s": t1 - t0, "init_finish_s": t2 - t1, "total_s": t2 - t0}


def child_tensorboardx_open(steps: int, workdir: Path) -> dict[str, Any]:
    # tensorboardX imports torch when it can (seconds on its own); hidden here so that the
    # figure is tensorboardX's own cost whether or not torch is installed.
    sys.modules["torch"] = None  # type: ignore[assignment]
    t0 = time.perf_counter()
    from tensorboardX import SummaryWriter

    t1 = time.perf_counter()
    SummaryWriter(str(workdir / "tb")).close()
    t2 = time.perf_counter()
    return {"import_s": t1 - t0, "open_close_s": t2 - t1, "total_s": t2 - t0}


CHILDREN: dict[str, Callable[[int, Path], dict[str, Any]]] = {
    "bare": child_bare,
    "bp": child_bp,
    "tensorboardx": child_tensorboardx,
    "mlflow": child_mlflow,
    "wandb": child_wandb,
    "init_finish": child_init_finish,
    "tensorboardx_open": child_tensorboardx_open,
}


def run_child(name: str, steps: int, workdir: Path) -> None:
    result = CHILDREN[name](steps, workdir)
    result["rss_mb"] = _peak_rss_mb()
    print("BENCH " + json.dumps(result), flush=True)


# --- parent -----------------------------------------------------------------------------------
def _parse(out: str) -> dict[str, Any]:
    for line in out.splitlines():
        if line.startswith("BENCH "):
            return dict(json.loads(line[6:]))
    raise RuntimeError("no result line")


def measure(name: str, steps: int, env: dict[str, str]) -> dict[str, Any] | str:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", name, "--steps", str(steps), "--workdir", tmp],
            env={**env, "BACKPROP_HOME": str(Path(tmp) / "home")},
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            return f"n/a ({last[:80]})"
        return _parse(proc.stdout)


def measure_under_backprop_run(steps: int, env: dict[str, str]) -> dict[str, Any] | str:
    from _common import backprop  # not at the top: children run this file from elsewhere

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "child.py"
        script.write_text(
            textwrap.dedent(
                f"""
                import sys
                sys.argv = [{__file__!r}, "--child", "bp", "--steps", "{steps}",
                            "--workdir", {tmp!r}]
                exec(open({__file__!r}).read())
                """
            )
        )
        proc = subprocess.run(
            backprop("run", "-m", "0", str(script)),
            env={**env, "BACKPROP_HOME": str(Path(tmp) / "home"), "BACKPROP_GPU__PROBE": "none"},
            capture_output=True,
            text=True,
            timeout=1800,
        )
        exited = time.time()
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
            return f"n/a ({last[:80]})"
        result = _parse(proc.stdout)
        # Durable = `backprop run` exited with every event stored.
        result["durable_s"] = exited - result["last_call"]
        return result


def version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as v

    try:
        return v(dist)
    except PackageNotFoundError:
        return "not installed"


def fmt_row(label: str, r: dict[str, Any] | str) -> str:
    if isinstance(r, str):
        return f"| {label} | {r} | | | | | |"
    rate = r["points"] / r["loop_s"]
    incl = r["points"] / (r["loop_s"] + r["durable_s"])
    return (
        f"| {label} | {r['points']:,} | {rate:,.0f} | {incl:,.0f} | "
        f"{r['p50_us']:.2f} / {r['p99_us']:.2f} | {r['durable_s']:.2f} | {r['rss_mb']:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--peer-steps", type=int, default=20_000, help="tensorboardX, W&B")
    parser.add_argument("--mlflow-steps", type=int, default=1_000)
    parser.add_argument("--init-repeats", type=int, default=5)
    parser.add_argument("--child")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    if args.child:
        run_child(args.child, args.steps, Path(args.workdir))
        return

    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKPROP_")}
    # Not at the top: children run this file from elsewhere.
    from _common import SpeedReference, cpu_model

    cpu = cpu_model()
    speed = SpeedReference()
    print(f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}")
    print(
        "versions: backprop "
        + version("backprop")
        + f", tensorboardX {version('tensorboardX')}, mlflow {version('mlflow')},"
        + f" wandb {version('wandb')}"
    )
    print()
    print(
        "| contender | points | points/s in loop | points/s incl. durable |"
        " call p50 / p99 (µs) | durable after last call (s) | peak RSS (MB) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = [
        ("bare loop (dicts only)", measure("bare", args.steps, env)),
        ("bp.log standalone (SQLite store)", measure("bp", args.steps, env)),
        ("bp.log under backprop run", measure_under_backprop_run(args.steps, env)),
        (
            f"tensorboardX add_scalar (N={args.peer_steps:,} steps)",
            measure("tensorboardx", args.peer_steps, env),
        ),
        (
            f"MLflow log_metrics, SQLite (N={args.mlflow_steps:,} steps)",
            measure("mlflow", args.mlflow_steps, env),
        ),
        (f"W&B offline (N={args.peer_steps:,} steps)", measure("wandb", args.peer_steps, env)),
    ]
    for label, result in rows:
        print(fmt_row(label, result), flush=True)
    print()
    results = dict(zip(("bare", "bp", "bp_run", "tbx", "mlflow", "wandb"), (r for _, r in rows)))
    print_ratios(results)
    print_init_cost(args.init_repeats, env)
    print(speed.line())


def _rate(r: dict[str, Any] | str, durable: bool) -> float | None:
    if isinstance(r, str):
        return None
    return float(r["points"] / (r["loop_s"] + (r["durable_s"] if durable else 0.0)))


def print_ratios(results: dict[str, dict[str, Any] | str]) -> None:
    bare, bp = _rate(results["bare"], False), _rate(results["bp"], False)
    if bare and bp:
        ratio = bare / bp
        verdict = "met" if ratio <= 2 else "not met"
        print(f"bp.log loop / bare loop (same dicts): {ratio:.2f}x (goal ≤ 2x: {verdict})")
    durable_bp, durable_wandb = _rate(results["bp"], True), _rate(results["wandb"], True)
    if durable_bp and durable_wandb:
        ratio = durable_bp / durable_wandb
        verdict = "met" if ratio >= 10 else "not met"
        print(
            f"points/s incl. durable, bp.log standalone / W&B offline: {ratio:.1f}x"
            f" (goal ≥ 10x: {verdict})"
        )


def print_init_cost(repeats: int, env: dict[str, str]) -> None:
    """``init`` + ``finish`` and tensorboardX's open + close, imports included, each in fresh
    processes, interleaved so that machine load hits both alike."""
    ours: list[dict[str, Any]] = []
    theirs: list[dict[str, Any]] = []
    for _ in range(repeats):
        for name, out in (("init_finish", ours), ("tensorboardx_open", theirs)):
            result = measure(name, 0, env)
            if isinstance(result, dict):
                out.append(result)
    if not ours:
        print("init + finish: n/a")
        return

    def ms(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] for r in rows) * 1000

    print(
        f"init + finish, nothing logged, imports included (standalone, median of {len(ours)}"
        f" fresh processes): {ms(ours, 'total_s'):.1f} ms (import {ms(ours, 'import_s'):.1f} ms,"
        f" init + finish {ms(ours, 'init_finish_s'):.1f} ms)"
    )
    if theirs:
        ratio = ms(ours, "total_s") / ms(theirs, "total_s")
        verdict = "met" if ratio <= 0.33 else "not met"
        print(
            "tensorboardX import (torch hidden) + SummaryWriter open + close"
            f" (median of {len(theirs)}):"
            f" {ms(theirs, 'total_s'):.1f} ms (import {ms(theirs, 'import_s'):.1f} ms);"
            f" ratio {ratio:.2f}x (goal ≤ 0.33x: {verdict})"
        )


if __name__ == "__main__":
    main()
