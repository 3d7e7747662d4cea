"""TensorBoard both ways, with TensorBoard's own readers as the oracle: exported values come
back exactly (NaN, ±Inf, -0.0, 1e300, steps up to 2**40, wall times to the microsecond) and
TensorBoard never sees a step go backwards; logs written by real ``SummaryWriter``s import
with every point."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.interop.conftest import (
    HARD_VALUES,
    RUN_ID,
    bits,
    cli_in,
    import_report,
    open_store,
    series_of,
)

pytest.importorskip("tensorboard")
pytest.importorskip("tensorboardX")

from tensorboard.backend.event_processing import (
    data_provider,
    event_accumulator,
    event_file_loader,
    plugin_event_multiplexer,
)
from tensorboard.context import RequestContext
from tensorboard.util import tensor_util


def shown_by_tensorboard(logdir: Path) -> dict[str, dict[str, list[tuple[int, float, bytes]]]]:
    """What TensorBoard's scalars dashboard gets: run -> tag -> (step, wall time, value bits),
    every point (no sampling)."""
    mux = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={"scalars": 0})
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, str(logdir))
    data = provider.read_scalars(
        RequestContext(), experiment_id="", plugin_name="scalars", downsample=10**9
    )
    return {
        run: {
            tag: [(d.step, d.wall_time, bits(d.value)) for d in points]
            for tag, points in tags.items()
        }
        for run, tags in data.items()
    }


def exported(tmp_path: Path, source: Path) -> Path:
    """The run exported with every session's points, those a later session superseded too."""
    out = tmp_path / "tb"
    cli_in(source, "export", RUN_ID, "--format", "tensorboard", "--all-sessions", "-o", str(out))
    return out


def test_tensorboard_shows_every_exported_value_exactly(
    homes: tuple[Path, Path], tmp_path: Path
) -> None:
    source, _ = homes
    logdir = exported(tmp_path, source)
    shown = shown_by_tensorboard(logdir)

    run = f"hard_values-{RUN_ID}"
    assert sorted(shown) == [run, f"{run}/session-2"]
    with open_store(source) as store:
        loss = store.metric_series(RUN_ID, "loss", all_sessions=True)
        acc = store.metric_series(RUN_ID, "eval/acc", all_sessions=True)
    first = [(s, t, bits(v)) for s, t, v in zip(loss.steps, loss.times, loss.values)][:10]
    resumed = [(s, t, bits(v)) for s, t, v in zip(loss.steps, loss.times, loss.values)][10:]
    assert shown[run]["loss"] == first
    assert shown[f"{run}/session-2"]["loss"] == resumed
    assert shown[run]["eval/acc"] == [
        (s, t, bits(v)) for s, t, v in zip(acc.steps, acc.times, acc.values)
    ]
    values = [v for _, _, v in shown[run]["loss"]]
    assert values == [bits(v) for v in HARD_VALUES]  # NaN, ±Inf, -0.0, 1e300, 5e-324...
    assert shown[run]["loss"][-1][0] == 2**40 - 11
    assert shown[run]["loss"][1][1] == 1_790_000_000.123463  # microseconds kept


def test_legacy_event_accumulator_reads_exact_doubles(
    homes: tuple[Path, Path], tmp_path: Path
) -> None:
    source, _ = homes
    folder = exported(tmp_path, source) / f"hard_values-{RUN_ID}"
    acc = event_accumulator.EventAccumulator(
        str(folder), size_guidance={event_accumulator.SCALARS: 0, event_accumulator.TENSORS: 0}
    )
    acc.Reload()
    read = [tensor_util.make_ndarray(e.tensor_proto).item() for e in acc.Tensors("loss")]
    assert [bits(v) for v in read] == [bits(v) for v in HARD_VALUES]


def test_no_folder_ever_shows_tensorboard_a_step_going_backwards(
    homes: tuple[Path, Path], tmp_path: Path
) -> None:
    source, _ = homes
    logdir = exported(tmp_path, source)
    folders = {p.parent for p in logdir.rglob("*tfevents*")}
    assert len(folders) == 2
    for folder in folders:
        steps = []
        for path in sorted(folder.glob("*tfevents*")):
            for event in event_file_loader.LegacyEventFileLoader(str(path)).Load():
                if event.HasField("summary"):
                    steps.append(event.step)
        assert steps == sorted(steps), folder


def test_export_then_import_gives_back_the_same_run(
    homes: tuple[Path, Path], tmp_path: Path
) -> None:
    source, dest = homes
    logdir = exported(tmp_path, source)
    report = import_report(dest, str(logdir))
    assert report["format"] == "tensorboard" and report["imported"] == [RUN_ID]
    with open_store(source) as a, open_store(dest) as b:
        assert series_of(b, RUN_ID) == series_of(a, RUN_ID)
        before, after = a.get_run(RUN_ID), b.get_run(RUN_ID)
        assert (after.name, after.status, after.session_count) == ("hard values", before.status, 2)
        assert after.last_step == before.last_step
        assert after.tags["imported-from"] == "tensorboard"


def test_export_refuses_to_write_over_a_run_folder(
    homes: tuple[Path, Path], tmp_path: Path
) -> None:
    source, _ = homes
    logdir = exported(tmp_path, source)
    again = run_cli(
        "export", RUN_ID, "--format", "tensorboard", "-o", str(logdir),
        env={"BACKPROP_HOME": str(source)},
    )  # fmt: skip
    assert again.returncode == 2
    assert again.stderr.startswith("backprop: error: ") and "already exists" in again.stderr
    no_folder = run_cli(
        "export", RUN_ID, "--format", "tensorboard", env={"BACKPROP_HOME": str(source)}
    )
    assert no_folder.returncode == 2 and "-o DIR" in no_folder.stderr


def write_summarywriter_logs(logdir: Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Logs as users have them: torch's and tensorboardX's writers, nested runs, and a run
    folder with two event files (a restart). Returns run -> tag -> (step, value) logged."""
    from tensorboardX import SummaryWriter as XWriter
    from torch.utils.tensorboard import SummaryWriter

    logged: dict[str, dict[str, list[tuple[int, float]]]] = {}
    plans = [
        ("exp1/torch", SummaryWriter, range(0, 300)),
        ("exp1/tbx", XWriter, range(0, 200, 2)),
        ("restarted", SummaryWriter, range(0, 50)),
        ("restarted", SummaryWriter, range(50, 80)),
    ]
    for n, (name, writer_class, steps) in enumerate(plans):
        writer = writer_class(str(logdir / name), filename_suffix=f".{n}")
        tags = logged.setdefault(name, {})
        for step in steps:
            values = {"train/loss": 1 / (step + 1) + n, "lr": 0.1 * 0.99**step}
            if step == 7:
                values["train/loss"] = math.nan
            for tag, value in values.items():
                writer.add_scalar(tag, value, step)
                tags.setdefault(tag, []).append((step, value))
        writer.close()
    return logged


def test_import_reads_every_point_of_real_summarywriter_logs(tmp_path: Path) -> None:
    logdir = tmp_path / "runs"
    logged = write_summarywriter_logs(logdir)
    home = tmp_path / "home"

    report = import_report(home, str(logdir))

    assert report["format"] == "tensorboard" and len(report["imported"]) == 3
    with open_store(home) as store:
        runs = {r.name: r for r in store.list_runs()}
        assert sorted(runs) == ["exp1/tbx", "exp1/torch", "restarted"]
        assert runs["restarted"].session_count == 2
        for name, tags in logged.items():
            run = runs[name]
            assert store.metric_keys(run.id) == sorted(tags)
            for tag, points in tags.items():
                series = store.metric_series(run.id, tag)
                assert series.steps == [s for s, _ in points]
                # simple_value is a 32-bit float: what was logged, rounded to float32
                expected = [bits(float(_float32(v))) for _, v in points]
                assert [bits(v) for v in series.values] == expected
        # wall times are TensorBoard's own, as its reader gives them
        acc = event_accumulator.EventAccumulator(
            str(logdir / "exp1" / "torch"), size_guidance={event_accumulator.SCALARS: 0}
        )
        acc.Reload()
        torch_run = runs["exp1/torch"]
        assert store.metric_series(torch_run.id, "lr").times == [
            e.wall_time for e in acc.Scalars("lr")
        ]
        assert torch_run.environment["imported_from"]["path"] == str(
            (logdir / "exp1" / "torch").resolve()
        )

    again = import_report(home, str(logdir))
    assert again["imported"] == [] and len(again["skipped"]) == 3


def _float32(value: float) -> float:
    import struct

    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def test_a_damaged_or_unfinished_file_keeps_the_points_before_the_damage(tmp_path: Path) -> None:
    logdir = tmp_path / "runs"
    write_summarywriter_logs(logdir)
    (path,) = (logdir / "exp1" / "torch").glob("*tfevents*")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # a writer that was killed mid-record
    (other,) = (logdir / "exp1" / "tbx").glob("*tfevents*")
    damaged = bytearray(other.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    other.write_bytes(bytes(damaged))
    home = tmp_path / "home"

    report = import_report(home, str(logdir))

    assert len(report["imported"]) == 3 and report["problems"] == []
    warnings = "\n".join(report["warnings"])
    assert "incomplete record" in warnings and "damaged" in warnings
    with open_store(home) as store:
        runs = {r.name: r for r in store.list_runs()}
        kept = store.metric_series(runs["exp1/torch"].id, "lr")
        assert 0 < len(kept) < 300 and kept.steps == list(range(len(kept)))


def test_a_missing_extra_is_named_in_one_line(tmp_path: Path) -> None:
    hidden = tmp_path / "hide"  # a tensorboardX without its protos, first on the path
    (hidden / "tensorboardX").mkdir(parents=True)
    (hidden / "tensorboardX" / "__init__.py").write_text("")
    logdir = tmp_path / "runs"
    logdir.mkdir()
    (logdir / "events.out.tfevents.1.host").write_bytes(b"")
    env = {
        "PYTHONPATH": os.pathsep.join([str(hidden), os.environ.get("PYTHONPATH", "")]),
        "BACKPROP_HOME": str(tmp_path / "home"),
    }
    result = run_cli("import", str(logdir), env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "backprop: error: the tensorboard format needs packages that are not installed "
        "(tensorboardX); pip install 'backprop[tensorboard]'"
    ]


LIGHTNING = """
import sys
import torch
import lightning.pytorch as pl
from torch.utils.data import DataLoader, TensorDataset


class Tiny(pl.LightningModule):
    def __init__(self, lr=0.05, width=4):
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, _):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss, on_step=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


data = TensorDataset(torch.randn(64, 2), torch.randn(64, 1))
for _ in range(2):
    trainer = pl.Trainer(
        max_epochs=2, log_every_n_steps=1, default_root_dir=sys.argv[1],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(Tiny(), DataLoader(data, batch_size=8))
"""


@pytest.mark.slow
def test_lightning_logs_import_one_run_per_version_with_hyperparameters(tmp_path: Path) -> None:
    import subprocess
    import sys

    pytest.importorskip("lightning")
    root = tmp_path / "work"
    result = subprocess.run(
        [sys.executable, "-c", LIGHTNING, str(root)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    home = tmp_path / "home"

    report = import_report(home, str(root / "lightning_logs"))

    assert report["format"] == "tensorboard" and len(report["imported"]) == 2
    with open_store(home) as store:
        runs = {r.name: r for r in store.list_runs()}
        assert sorted(runs) == ["version_0", "version_1"]
        for run in runs.values():
            acc = event_accumulator.EventAccumulator(
                run.environment["imported_from"]["path"],
                size_guidance={event_accumulator.SCALARS: 0},
            )
            acc.Reload()
            for tag in acc.Tags()["scalars"]:
                want = [(e.step, e.wall_time, bits(e.value)) for e in acc.Scalars(tag)]
                series = store.metric_series(run.id, tag)
                got = list(zip(series.steps, series.times, [bits(v) for v in series.values]))
                assert got == want, tag
            assert len(store.metric_series(run.id, "train_loss")) == 16
            (params,) = [e.event.payload["data"] for e in store.events(run.id, kinds=["params"])]
            assert params == {"lr": 0.05, "width": 4}


@pytest.mark.slow
def test_event_files_are_followed_as_a_writer_appends_to_them(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter  # its flush() writes; tensorboardX's waits

    from backprop_tensorboard.live import EventFileTail
    from tests.conftest import wait_for

    tail = EventFileTail(tmp_path, session=1)
    assert tail.poll() == []
    writer = SummaryWriter(str(tmp_path / "runs" / "a"))
    for step in range(5):
        writer.add_scalar("loss", 1 / (step + 1), step)
    writer.flush()
    seen: list[Any] = []

    # the writer's thread writes when it gets to it
    wait_for(lambda: seen.extend(tail.poll()) or len(seen) >= 5, what="five points")

    assert [(e.step, e.payload["data"]) for e in seen] == [
        (s, {"loss": _float32(1 / (s + 1))}) for s in range(5)
    ]
    assert all(e.kind == "metrics" and e.session == 1 for e in seen)
    writer.close()
    assert tail.poll() == []  # nothing new
    (path,) = (tmp_path / "runs" / "a").glob("*tfevents*")
    whole = path.read_bytes()
    one_more = _record_of(whole)  # the last record again, at step 5
    path.write_bytes(whole + one_more[:-7])  # a writer half-way through a record
    assert tail.poll() == []
    path.write_bytes(whole + one_more)
    assert [e.step for e in tail.poll()] == [4]


def _record_of(data: bytes) -> bytes:
    """The last TFRecord of ``data``."""
    from backprop_tensorboard.event_file import read_records

    records = read_records(data)
    last = records.data[-1]
    return data[records.end - len(last) - 16 : records.end]
