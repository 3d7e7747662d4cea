"""Benchmarks of ``backprop run``: start-up overhead, output throughput, supervisor memory,
and stop timing. Run ``python benchmarks/bench_run.py [--quick]``; prints a table.

* overhead: ``backprop run noop.py --gpu-probe none`` vs ``python noop.py`` (median of N,
  interleaved), as time added and as a ratio
* throughput: a script printing N JSON metric lines, and one printing N plain text progress
  lines (``iter i: loss …, time …ms, mfu …%``, read by the output scalars parser), each under
  backprop vs stdout to a file; every point must be recorded in the store
* supervisor peak RSS during the throughput runs (psutil, sampled every 20 ms)
* stop timing: stop signal vs ``BACKPROP_DEADLINE``; SIGKILL vs stop signal + grace
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

import psutil
from _common import SpeedReference, backprop, cpu_model

NOOP = "pass\n"
SPAM = """
import json, sys
n = int(sys.argv[1])
write = sys.stdout.write
for i in range(n):
    write(json.dumps({"event": "metrics", "step": i, "data": {"loss": 1.0 / (i + 1)}}) + "\\n")
"""
TEXT_SPAM = """
import sys
n = int(sys.argv[1])
write = sys.stdout.write
for i in range(n):
    loss, ms, mfu = 1.0 / (i + 1), (i % 997) * 0.37, (i % 89) * 0.11
    write(f"iter {i}: loss {loss:.4f}, time {ms:.2f}ms, mfu {mfu:.2f}%\\n")
"""
STUBBORN = """
import os, signal, time
def on_term(signum, frame):
    with open(os.path.join(os.environ["BACKPROP_RUN_DIR"], "term"), "w") as f:
        f.write(repr(time.time()))
signal.signal(signal.SIGTERM, on_term)
with open(os.path.join(os.environ["BACKPROP_RUN_DIR"], "deadline"), "w") as f:
    f.write(os.environ["BACKPROP_DEADLINE"])
while True:
    time.sleep(0.01)
"""


def timed(
    cmd: list[str], env: dict[str, str], cwd: Path, stdout: int | IO[Any] = subprocess.DEVNULL
) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{cmd} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return elapsed


def overhead(work: Path, env: dict[str, str], n: int) -> tuple[float, float]:
    (work / "noop.py").write_text(NOOP)
    plain, governed = [], []
    for _ in range(n):
        plain.append(timed([sys.executable, "noop.py"], env, work))
        governed.append(timed(backprop("run", "noop.py", "--gpu-probe", "none"), env, work))
    return statistics.median(plain), statistics.median(governed)


def peak_rss(pid: int, stop: threading.Event, out: list[int]) -> None:
    try:
        proc = psutil.Process(pid)
        while not stop.is_set():
            out.append(proc.memory_info().rss)
            time.sleep(0.02)
    except psutil.Error:
        pass


def throughput(
    work: Path, env: dict[str, str], script: str, lines: int, repeat: int
) -> dict[str, Any]:
    """Median of ``repeat`` interleaved pairs (to a file, under backprop) for ``script``."""
    with open(work / "out.txt", "wb") as f:  # warm-up: page cache, bytecode
        timed([sys.executable, script, "1000"], env, work, stdout=f)
    timed(backprop("run", "--run-id", f"warm-up-{script}", script, "1000"), env, work)
    bases, runs = [], []
    for i in range(repeat):
        with open(work / "out.txt", "wb") as f:
            bases.append(timed([sys.executable, script, str(lines)], env, work, stdout=f))
        runs.append(governed_spam(work, env, script, lines, f"{script}-{i}"))
    recorded = min(int(r["recorded"]) for r in runs)
    return {
        "base": statistics.median(bases),
        "governed": statistics.median(r["governed"] for r in runs),
        "ratios": [r["governed"] / b for r, b in zip(runs, bases)],
        "recorded": recorded,
        "rss_mb": max(r["rss_mb"] for r in runs),
    }


def governed_spam(
    work: Path, env: dict[str, str], script: str, lines: int, run_id: str
) -> dict[str, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(
        backprop("run", "--run-id", run_id, script, str(lines)),
        env=env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    samples: list[int] = []
    stop = threading.Event()
    sampler = threading.Thread(target=peak_rss, args=(proc.pid, stop, samples))
    sampler.start()
    _, err = proc.communicate()
    governed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"throughput run failed: {err.decode()[-2000:]}")
    stop.set()
    sampler.join()
    from backprop_core.settings.model import Settings
    from backprop_core.store.opening import open_store

    with open_store(Settings.from_config({}, home=Path(env["BACKPROP_HOME"]))) as store:
        recorded = store.metric_series(run_id, "loss", max_points=None).total
    return {
        "governed": governed,
        "recorded": recorded,
        "rss_mb": max(samples, default=0) / 1e6,
    }


def _text_line(i: int) -> str:
    """A line as TEXT_SPAM prints it (nanoGPT's progress line)."""
    loss, ms, mfu = 1.0 / (i + 1), (i % 997) * 0.37, (i % 89) * 0.11
    return f"iter {i}: loss {loss:.4f}, time {ms:.2f}ms, mfu {mfu:.2f}%"


def components(home: Path, n: int, kind: str) -> dict[str, float]:
    """Per-line cost of the two halves of the hot path (the parser chain, then the store),
    measured alone in this process, for JSON metric lines or plain text progress lines."""
    from backprop_core.events.event import ParseContext, ParseState
    from backprop_core.plugin.manager import get_plugins
    from backprop_core.settings.model import Settings
    from backprop_core.store.opening import open_store
    from backprop_core.store.records import RunRecord, RunStatus
    from backprop_core.supervisor.session import GC_THRESHOLD

    if kind == "json":
        lines = [
            json.dumps({"event": "metrics", "step": i, "data": {"loss": 1.0 / (i + 1)}})
            for i in range(n)
        ]
    else:
        lines = [_text_line(i) for i in range(n)]
    chain = get_plugins().parser_chain()
    settings = Settings.from_config({}, home=home)
    context = ParseContext("bench", 1, "stdout", ".", settings, ParseState())
    raw = [line.encode() for line in lines]
    # As in the supervisor (see GC_THRESHOLD there): the collector runs less often.
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    start = time.perf_counter()
    # As the supervisor reads them: about 3,000 lines per chunk.
    items = [
        item for i in range(0, n, 3000) for item in chain.parse(raw[i : i + 3000], context).items
    ]
    parse_s = time.perf_counter() - start
    with open_store(settings) as store:
        store.create_run(RunRecord(id="bench", status=RunStatus.RUNNING, created_at=time.time()))
        start = time.perf_counter()
        step = max(1, 9000 // max(1, n // max(1, len(items))))
        for i in range(0, len(items), step):  # batches of about 9,000 events, as the sink writes
            store.append_batch("bench", items[i : i + step])
        store_s = time.perf_counter() - start
    gc.unfreeze()
    return {"parse_us": parse_s / n * 1e6, "store_us": store_s / n * 1e6}


def reference() -> float:
    """Machine speed: seconds for 1,000,000 ``float()`` calls on short byte strings."""
    values = [b"4.4587"] * 1_000_000
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        list(map(float, values))
        best = min(best, time.perf_counter() - start)
    return best


def stop_timing(work: Path, env: dict[str, str], grace: float) -> dict[str, float]:
    (work / "stubborn.py").write_text(STUBBORN)
    subprocess.run(
        backprop("run", "--run-id", "stubborn", "-m", "0.05", "--grace", str(grace), "stubborn.py"),
        env=env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_dir = Path(env["BACKPROP_HOME"]) / "runs" / "stubborn"
    deadline = float((run_dir / "deadline").read_text())
    term = float((run_dir / "term").read_text())
    from backprop_core.settings.model import Settings
    from backprop_core.store.opening import open_store

    with open_store(Settings.from_config({}, home=Path(env["BACKPROP_HOME"]))) as store:
        session = store.sessions("stubborn")[0]
    return {"signal_late": term - deadline, "kill_after_signal": (session.ended_at or 0) - term}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and lines")
    args = parser.parse_args()
    machine = SpeedReference()
    n = 10 if not args.quick else 5
    lines = 1_000_000 if not args.quick else 100_000
    pairs = 5 if not args.quick else 2
    speed = reference()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = dict(os.environ)
        # Without bytecode caches every start-up would recompile backprop: not what users see.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(
            BACKPROP_HOME=str(work / "home"),
            BACKPROP_GPU__PROBE="none",
            BACKPROP_MIN_FREE_RAM_GB="0",
        )
        (work / "spam.py").write_text(SPAM)
        (work / "text_spam.py").write_text(TEXT_SPAM)
        overhead(work, env, 2)  # warm-up
        plain, governed = overhead(work, env, n)
        cases = {
            "JSON": throughput(work, env, "spam.py", lines, pairs),
            "text": throughput(work, env, "text_spam.py", lines, pairs),
        }
        st = stop_timing(work, env, grace=2.0)
        parts = {
            "JSON": components(work / "parts-json", 100_000, "json"),
            "text": components(work / "parts-text", 100_000, "text"),
        }
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    print(f"reference: 1,000,000 float() calls in {speed * 1000:.0f} ms")
    rows = [
        ("start-up: python noop.py (median)", f"{plain * 1000:.0f} ms", ""),
        (
            "start-up: backprop run noop.py (median)",
            f"{governed * 1000:.0f} ms",
            f"+{(governed - plain) * 1000:.0f} ms; {governed / plain:.1f}x python noop.py"
            " (goal ≤ 8x)",
        ),
    ]
    for name, tp in cases.items():
        part = parts[name]
        rows += [
            (f"{lines:,} {name} lines, stdout to a file (median)", f"{tp['base']:.2f} s", ""),
            (
                f"{lines:,} {name} lines under backprop (median)",
                f"{tp['governed']:.2f} s",
                f"{tp['governed'] / tp['base']:.2f}x (goal ≤ 1.3x); pairs: "
                + ", ".join(f"{r:.2f}x" for r in tp["ratios"]),
            ),
            (
                f"  {name}: 'loss' points recorded",
                f"{tp['recorded']:,}",
                "all" if tp["recorded"] == lines else "MISSING",
            ),
            (f"  {name}: per line, child to a file", f"{tp['base'] / lines * 1e6:.1f} µs", ""),
            (f"  {name}: per line, parser chain alone", f"{part['parse_us']:.1f} µs", ""),
            (f"  {name}: per line, Store.append_batch (sqlite)", f"{part['store_us']:.1f} µs", ""),
            (f"  {name}: supervisor peak RSS", f"{tp['rss_mb']:.0f} MB", "goal ≤ 80 MB"),
        ]
    rows += [
        ("stop signal after BACKPROP_DEADLINE", f"{st['signal_late'] * 1000:.0f} ms", "goal ≤ 1 s"),
        (
            "session end after stop signal (grace 2 s)",
            f"{st['kill_after_signal']:.2f} s",
            "goal ≤ grace + 1 s",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>10}  note")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10}  {note}")
    print(machine.line())
    print(
        json.dumps(
            {
                "overhead_ms": (governed - plain) * 1000,
                "overhead_ratio": governed / plain,
                "reference_s": speed,
                "throughput": cases,
                "parts": parts,
                **st,
            }
        )
    )


if __name__ == "__main__":
    main()
