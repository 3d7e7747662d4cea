"""Metrics from printed lines: how right, and how fast. Run
``python benchmarks/bench_output_scalars.py``; prints two tables.

Accuracy: on the real captures in ``tests/fixtures/training-output/`` (nanoGPT, the DCGAN of
pytorch/examples) and on the labelled samples and junk lines the tests hold, every point each
reader records is compared with the real metrics (the captures' metric lines, read with their
exact formats; the samples' expected values): precision (recorded points that are real),
recall (real points recorded), and keys that are no metric. Readers, side by side:

* backprop's output scalars parser, through the installed parser chain;
* a per-line regular expression for whole ``key: value`` lines, the form Guild AI reads by
  default;
* a per-line regular expression taking every ``key: number`` / ``key=number`` pair.

Speed: microseconds per line for each reader on 100,000 lines made of the nanoGPT capture
repeated, read in chunks of 3,000 lines as the supervisor reads them, and the JSON event parser
on as many JSON metric lines for reference; a machine-speed reference line comes first.
"""

from __future__ import annotations

import gc
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import cpu_model

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FIXTURES = REPO / "tests" / "fixtures" / "training-output"

Point = tuple[Any, str, float]
Reader = Callable[[list[str]], list[Point]]

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
GUILD_STYLE = re.compile(rf"^\s*([A-Za-z_][\w./-]*):\s+({_NUMBER})\s*$")
EVERY_PAIR = re.compile(rf"([A-Za-z_][\w./-]*)\s*[:=]\s*({_NUMBER})")


def chain_reader(chunk: int = 3000) -> Reader:
    from backprop_core.events.event import ParseContext, ParseState
    from backprop_core.events.ingest import expand
    from backprop_core.plugin.manager import PluginManager
    from backprop_core.settings.model import Settings

    chain = PluginManager().parser_chain()

    def read(lines: list[str]) -> list[Point]:
        settings = Settings.from_config({}, home=Path("."))
        context = ParseContext("bench", 1, "stdout", ".", settings, ParseState())
        raw = [line.encode() for line in lines]
        points: list[Point] = []
        for i in range(0, len(raw), chunk):
            for event in expand(chain.parse(raw[i : i + chunk], context).items):
                points.extend((event.step, k, float(v)) for k, v in event.data.items())
        return points

    return read


def regex_reader(pattern: re.Pattern[str]) -> Reader:
    def read(lines: list[str]) -> list[Point]:
        return [
            (None, m.group(1), float(m.group(2))) for line in lines for m in pattern.finditer(line)
        ]

    return read


def fixture_truth() -> dict[str, tuple[list[str], list[Point]]]:
    """Each capture's lines and its real metric points, read with the exact formats."""
    nano = (FIXTURES / "nanogpt-shakespeare-char.log").read_text()
    truth: list[Point] = []
    for i, *values in re.findall(
        r"^iter (\d+): loss ([\d.]+), time ([\d.]+)ms, mfu ([-\d.]+)%$", nano, re.M
    ):
        truth += [(int(i), k, float(v)) for k, v in zip(("loss", "time_ms", "mfu_pct"), values)]
    for s, *values in re.findall(
        r"^step (\d+): train loss ([\d.]+), val loss ([\d.]+)$", nano, re.M
    ):
        truth += [(int(s), k, float(v)) for k, v in zip(("train_loss", "val_loss"), values)]
    dcgan = (FIXTURES / "pytorch-examples-dcgan.log").read_text()
    dcgan_truth: list[Point] = []
    for e, b, *values in re.findall(
        r"^\[(\d+)/\d+\]\[(\d+)/63\] Loss_D: ([\d.]+) Loss_G: ([\d.]+) D\(x\): ([\d.]+) "
        r"D\(G\(z\)\): ([\d.]+) / [\d.]+$",
        dcgan,
        re.M,
    ):
        keys = ("Loss_D", "Loss_G", "D_x", "D_G_z")
        dcgan_truth += [(int(e) * 63 + int(b), k, float(v)) for k, v in zip(keys, values)]
    return {
        "nanoGPT capture": (nano.split("\n"), truth),
        "DCGAN capture": (dcgan.split("\n"), dcgan_truth),
    }


def sample_truth() -> dict[str, tuple[list[str], list[Point]]]:
    """The tests' labelled samples of other scripts, and their junk lines."""
    from tests.run.test_output_scalars import JUNK, SAMPLES

    lines: list[str] = []
    truth: list[Point] = []
    for _, text, expected in SAMPLES:
        lines += text.split("\n")
        truth += [(step, k, v) for step, data in expected for k, v in data.items()]
    return {"samples of other scripts": (lines, truth), "junk lines": (JUNK.split("\n"), [])}


def score(points: list[Point], truth: list[Point]) -> dict[str, Any]:
    """Points match on key and value (and step, for readers that give one)."""
    real = {(k, v) for _, k, v in truth}
    real_keys = {k for _, k, _ in truth}
    good = [p for p in points if (p[1], p[2]) in real]
    found = {(k, v) for _, k, v in points}
    return {
        "recorded": len(points),
        "precision": len(good) / len(points) if points else None,
        "recall": len(real & found) / len(real) if real else 1.0,
        "junk_keys": sorted({k for _, k, _ in points} - real_keys),
    }


def speed(read: Reader, lines: list[str], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        read(lines)
        best = min(best, time.perf_counter() - start)
    return best / len(lines) * 1e6


def chain_speed(lines: list[str], repeat: int = 3) -> float:
    """The parser chain alone, as the supervisor calls it (its events stay in columns)."""
    from backprop_core.events.event import ParseContext, ParseState
    from backprop_core.plugin.manager import PluginManager
    from backprop_core.settings.model import Settings

    chain = PluginManager().parser_chain()
    settings = Settings.from_config({}, home=Path("."))
    raw = [line.encode() for line in lines]
    best = float("inf")
    for _ in range(repeat):
        context = ParseContext("bench", 1, "stdout", ".", settings, ParseState())
        gc.collect()
        start = time.perf_counter()
        for i in range(0, len(raw), 3000):
            chain.parse(raw[i : i + 3000], context)
        best = min(best, time.perf_counter() - start)
    return best / len(lines) * 1e6


def json_speed(n: int) -> float:
    from backprop_core.events.event import ParseContext, ParseState
    from backprop_core.plugin.manager import PluginManager

    chain = PluginManager().parser_chain()
    raw = [
        json.dumps({"event": "metrics", "step": i, "data": {"loss": 1.0 / (i + 1)}}).encode()
        for i in range(n)
    ]
    best = float("inf")
    for _ in range(3):
        context = ParseContext("bench", 1, "stdout", ".", None, ParseState())
        start = time.perf_counter()
        for i in range(0, n, 3000):
            chain.parse(raw[i : i + 3000], context)
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def main() -> None:
    readers: dict[str, Reader] = {
        "backprop output scalars": chain_reader(),
        "whole-line key: value (Guild-style)": regex_reader(GUILD_STYLE),
        "every key:/= number pair": regex_reader(EVERY_PAIR),
    }
    corpora = {**fixture_truth(), **sample_truth()}
    values = [b"4.4587"] * 1_000_000
    start = time.perf_counter()
    list(map(float, values))
    reference = time.perf_counter() - start
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    print(f"reference: 1,000,000 float() calls in {reference * 1000:.0f} ms")
    print()
    width = max(map(len, readers)) + 2
    print(f"{'corpus':<26}{'reader':<{width}}{'real':>6}{'recorded':>10}{'precision':>11}"
          f"{'recall':>8}  junk keys")  # fmt: skip
    results: dict[str, Any] = {}
    for corpus, (lines, truth) in corpora.items():
        for name, read in readers.items():
            got = score(read(lines), truth)
            results[f"{corpus} / {name}"] = got
            junk = ", ".join(got["junk_keys"][:6]) + (" …" if len(got["junk_keys"]) > 6 else "")
            precision = "—" if got["precision"] is None else f"{got['precision']:.0%}"
            print(
                f"{corpus:<26}{name:<{width}}{len(truth):>6}{got['recorded']:>10}"
                f"{precision:>11}{got['recall']:>8.0%}  {junk or '—'}"
            )
    nano_lines = corpora["nanoGPT capture"][0]
    lines = (nano_lines * (100_000 // len(nano_lines) + 1))[:100_000]
    print()
    print(f"{'reader, 100,000 lines (nanoGPT capture repeated)':<52}{'µs per line':>12}")
    timing = {
        name: chain_speed(lines) if name.startswith("backprop") else speed(read, lines)
        for name, read in readers.items()
    }
    timing["JSON event parser, 100,000 JSON metric lines"] = json_speed(100_000)
    for name, us in timing.items():
        print(f"{name:<52}{us:>12.2f}")
    print(json.dumps({"reference_s": reference, "accuracy": results, "us_per_line": timing}))


if __name__ == "__main__":
    main()
