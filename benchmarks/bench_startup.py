"""Start-up cost of the CLI: ``backprop --version``, ``backprop --help`` and ``backprop status
--gpu-probe none`` against a bare ``python -c pass``, all measured in one run, interleaved so that
machine load affects every command alike.

Run: ``python benchmarks/bench_startup.py [--runs N]``. Goals (medians of N runs, N >= 10):
``backprop --version`` at most 3x the bare interpreter, every other command at most 150 ms
added over it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import SpeedReference

BUDGET_MS = 150.0
VERSION_RATIO = 3.0


def commands() -> dict[str, list[str]]:
    python = sys.executable
    # The console script next to this interpreter (not a shim on PATH, which adds its own cost).
    script = str(Path(python).parent / ("backprop.exe" if os.name == "nt" else "backprop"))
    found = {
        "python -c pass": [python, "-c", "pass"],
        "backprop --version": [script, "--version"],
        "backprop --help": [script, "--help"],
        # What --help would cost if it imported every command module for its help line
        # instead of reading the docstrings from source: the design it was measured against.
        "--help importing every command module": [
            python,
            "-c",
            "import importlib, sys; import backprop_core.cli.main as m; "
            "[importlib.import_module(s.split(':')[0]) for s in m.BUILTIN_COMMANDS.values()]; "
            "sys.argv = ['backprop', '--help']; m.main()",
        ],
        "python -m backprop_core.cli --version": [python, "-m", "backprop_core.cli", "--version"],
        "backprop status --gpu-probe none": [script, "status", "--gpu-probe", "none"],
        "backprop status (auto probe: tries NVML, nvidia-smi)": [script, "status"],
        "python -m backprop_core.cli status --gpu-probe none": [
            python,
            "-m",
            "backprop_core.cli",
            "status",
            "--gpu-probe",
            "none",
        ],
    }
    if not Path(script).exists():
        sys.exit(f"console script not found at {script}: install the project (pip install -e .)")
    return found


def time_once(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = (time.perf_counter() - started) * 1000
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {result.stderr.decode(errors='replace')}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per command (default 20)")
    args = parser.parse_args()
    runs = max(10, args.runs)
    speed = SpeedReference()
    cmds = commands()
    with tempfile.TemporaryDirectory() as home:
        # PYTHONDONTWRITEBYTECODE would make every start recompile every module: users have
        # byte-code caches, so the benchmark must too.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("BACKPROP_") and k != "PYTHONDONTWRITEBYTECODE"
        }
        env["BACKPROP_HOME"] = home
        for argv in cmds.values():  # warm the file cache and byte-code once
            time_once(argv, env)
        samples: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(runs):
            for name, argv in cmds.items():
                samples[name].append(time_once(argv, env))
    base = statistics.median(samples["python -c pass"])
    base_min = min(samples["python -c pass"])
    width = max(len(n) for n in cmds)
    print(f"{runs} runs each, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(
        f"{'command':<{width}}  {'median ms':>9}  {'added ms':>8}  {'ratio':>6}  "
        f"{'min ms':>7}  {'added (min)':>11}  goal (median)"
    )
    for name, values in samples.items():
        median, fastest = statistics.median(values), min(values)
        if name == "python -c pass":
            print(f"{name:<{width}}  {median:9.1f}  {'':>8}  {'':>6}  {fastest:7.1f}  {'':>11}")
            continue
        added, ratio = median - base, median / base
        if name.endswith("--version"):
            goal = f"≤ {VERSION_RATIO:g}x: " + ("ok" if ratio <= VERSION_RATIO else "OVER")
        else:
            goal = f"≤ +{BUDGET_MS:g} ms: " + ("ok" if added <= BUDGET_MS else "OVER")
        print(
            f"{name:<{width}}  {median:9.1f}  {added:8.1f}  {ratio:5.1f}x  {fastest:7.1f}  "
            f"{fastest - base_min:11.1f}  {goal}"
        )
    print(speed.line())


if __name__ == "__main__":
    main()
