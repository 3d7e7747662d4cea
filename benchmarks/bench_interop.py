"""Interop benchmark: TensorBoard export and import beside TensorBoard's own reader and
tensorboardX's writer, and the CSV and JSON round trips.

    python benchmarks/bench_interop.py [--points 1000000] [--peer-points 100000] [--repeat 3]

A SQLite store is filled (not timed) with one run of ``--points`` points: 10 metrics logged
together at each step, each at its own wall time. Then, each the median of ``--repeat`` runs in
this process:

- backprop export to TensorBoard event files, and tensorboardX's ``SummaryWriter.add_scalar``
  writing ``--peer-points`` points (its queue per event makes a million take minutes);
- backprop import of that export into an empty SQLite store; backprop reading the same files
  without storing; TensorBoard's ``EventAccumulator`` (``size_guidance`` 0: every point) loading
  them; and both readers on the tensorboardX file;
- CSV and JSON export and import of the same run.

The first line is the machine, the second a speed reference (a bare Python loop), so figures
taken on days when the machine runs slower can be compared.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import cpu_model

from backprop_core.plugin.manager import get_plugins
from backprop_core.plugin_kit import MetricBatcher
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord

KEYS = [f"metric_{i}" for i in range(10)]
T0 = 1_790_000_000.0


def timed(repeat: int, setup: Callable[[], Any], work: Callable[[Any], Any]) -> float:
    """Median wall seconds of ``work(setup())``, setup not timed."""
    seconds = []
    for _ in range(repeat):
        arg = setup()
        start = time.perf_counter()
        work(arg)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def reference(n: int = 1_000_000) -> float:
    """Dicts built per second by a bare loop: the machine's speed today."""
    start = time.perf_counter()
    for step in range(n):
        _ = {"loss": step * 0.001, "acc": step * 0.002}
    return n / (time.perf_counter() - start)


def open_store(home: Path) -> Any:
    store = get_plugins().store_class("sqlite")(home)
    store.home.ensure()
    return store


def fill(home: Path, points: int) -> Any:
    store = open_store(home)
    store.create_run(RunRecord("bench", RunStatus.COMPLETED, T0, name="bench"))
    store.add_session(SessionRecord("bench", 1, RunStatus.COMPLETED, T0))
    batcher = MetricBatcher(1)
    for step in range(points // len(KEYS)):
        for j, key in enumerate(KEYS):
            batcher.add(T0 + step * 0.01 + j * 1e-5, step, {key: step * 0.001 + j})
        if batcher.full():
            store.append_batch("bench", batcher.take())
    store.append_batch("bench", batcher.take())
    return store


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--peer-points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, peer_n, repeat = args.points, args.peer_points, args.repeat

    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboardX import SummaryWriter

    from backprop_exporters.formats import CsvExporter, JsonExporter
    from backprop_exporters.imports import CsvImporter, JsonImporter
    from backprop_tensorboard.event_file import protos, read_records
    from backprop_tensorboard.export import TensorBoardExporter
    from backprop_tensorboard.importer import TensorBoardImporter
    from backprop_tensorboard.scalars import ScalarDecoder

    cpu = cpu_model()
    print(f"# {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("# load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"# speed reference: a bare loop builds {reference():,.0f} dicts/s")
    base = Path(tempfile.mkdtemp(prefix="bench-interop-"))
    rows: list[tuple[str, int, float]] = []
    try:
        store = fill(base / "home", n)
        run = store.get_run("bench")
        out = base / "tb"

        def export_tb(folder: Path) -> None:
            TensorBoardExporter().export_to(store, [run], folder)

        rows.append(
            ("export: backprop → event files", n, timed(repeat, lambda: fresh(out), export_tb))
        )
        folder = out / "bench-bench"

        def write_peer(folder: Path) -> None:
            writer = SummaryWriter(str(folder))
            for step in range(peer_n // len(KEYS)):
                for j, key in enumerate(KEYS):
                    writer.add_scalar(key, step * 0.001 + j, step)
            writer.close()

        peer = base / "peer"
        rows.append(
            (
                "export: tensorboardX SummaryWriter",
                peer_n,
                timed(repeat, lambda: fresh(peer), write_peer),
            )
        )

        def import_tb(home: Path) -> None:
            with open_store(home) as dest:
                report = TensorBoardImporter().import_into(dest, out)
                assert report.imported == ["bench"], report

        rows.append(
            (
                "import: backprop, into SQLite",
                n,
                timed(repeat, lambda: fresh(base / "h2"), import_tb),
            )
        )

        def read_only(path: Path) -> None:
            decoder = ScalarDecoder(protos())
            for file in sorted(path.glob("*tfevents*")):
                for data in read_records(file.read_bytes()).data:
                    decoder.read(data)

        rows.append(("read: backprop, not stored", n, timed(repeat, lambda: folder, read_only)))

        def accumulate(path: Path) -> None:
            guidance = {ea.SCALARS: 0, ea.TENSORS: 0}
            ea.EventAccumulator(str(path), size_guidance=guidance).Reload()

        rows.append(
            ("read: TensorBoard EventAccumulator", n, timed(repeat, lambda: folder, accumulate))
        )
        fresh(peer)
        write_peer(peer)
        rows.append(
            ("read: backprop, tensorboardX file", peer_n, timed(repeat, lambda: peer, read_only))
        )
        rows.append(
            (
                "read: EventAccumulator, tensorboardX file",
                peer_n,
                timed(repeat, lambda: peer, accumulate),
            )
        )

        for name, exporter, importer in (
            ("csv", CsvExporter, CsvImporter),
            ("json", JsonExporter, JsonImporter),
        ):
            path = base / f"export.{name}"

            def export_file(_: Any, exporter: Any = exporter, path: Path = path) -> None:
                with open(path, "w", encoding="utf-8", newline="") as fh:
                    exporter().export(store, [run], fh)

            def import_file(home: Path, importer: Any = importer, path: Path = path) -> None:
                with open_store(home) as dest:
                    assert importer().import_into(dest, path).imported == ["bench"]

            rows.append((f"export: backprop → {name}", n, timed(repeat, lambda: None, export_file)))
            rows.append(
                (
                    f"import: backprop {name}, into SQLite",
                    n,
                    timed(repeat, lambda: fresh(base / "h3"), import_file),
                )
            )
        store.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print("# load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    accumulator = next(
        p / s for label, p, s in rows if label == "read: TensorBoard EventAccumulator"
    )
    table = [("measurement", "points", "median s", "points/s", "x EventAccumulator")]
    for label, points, seconds in rows:
        rate = points / seconds
        table.append(
            (label, f"{points:,}", f"{seconds:.2f}", f"{rate:,.0f}", f"{rate / accumulator:.1f}")
        )
    widths = [max(len(r[i]) for r in table) for i in range(5)]
    for i, row in enumerate(table):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
