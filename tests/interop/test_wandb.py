"""W&B offline runs, written by the real ``wandb`` package (``WANDB_MODE=offline``, no
network), import with their config, summary, history and ending. The first test checks the file
layout itself: W&B has no supported reader for it, and a W&B release that changes it must fail
here, by name, before users see wrong imports."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.interop.conftest import bits, import_report, open_store

pytest.importorskip("wandb")

pytestmark = pytest.mark.slow

STEPS = 1500
SPECIAL = {7: math.nan, 8: math.inf, 9: -math.inf, 10: -0.0, 11: 1e300}

WRITE = textwrap.dedent(
    """
    import math, sys
    import wandb

    SPECIAL = {7: math.nan, 8: math.inf, 9: -math.inf, 10: -0.0, 11: 1e300}
    run = wandb.init(
        project="interop", name="good", tags=["a", "b"], notes="first try",
        config={"lr": 0.001, "optim": {"name": "adam", "beta1": 0.9}, "layers": [64, 64]},
    )
    for step in range(int(sys.argv[1])):
        row = {"loss": SPECIAL.get(step, 1 / (step + 1)), "val": {"acc": step / 1000}}
        if step % 100 == 0:
            row["lr"] = 0.1 * 0.99 ** step
            row["note"] = "text is not a metric"
        run.log(row, step=step)
    run.summary["best_acc"] = 0.75
    run.finish()

    bad = wandb.init(project="interop", name="crashed", config={"lr": 1.0})
    bad.log({"loss": 3.0})
    bad.finish(exit_code=3)
    """
)


@pytest.fixture(scope="module")
def wandb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wandb")
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DIR": str(base),
        "WANDB_CONFIG_DIR": str(base / "config"),
        "WANDB_CACHE_DIR": str(base / "cache"),
    }
    result = subprocess.run(
        [sys.executable, "-c", WRITE, str(STEPS)],
        cwd=base,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return base / "wandb"


def test_the_wandb_file_layout_is_the_one_backprop_reads(wandb_dir: Path) -> None:
    from backprop_wandb.importer import run_files
    from backprop_wandb.transaction_log import read_chunks, record_class

    files = run_files(wandb_dir)
    assert len(files) == 2, "W&B no longer writes offline-run-*/run-*.wandb files"
    good = next(p for p in files if b"good" in p.read_bytes())
    chunks = read_chunks(good.read_bytes(), good)
    record = record_class()
    kinds: dict[str, int] = {}
    steps = []
    for raw in chunks.records:
        message = record.FromString(raw)
        kind = message.WhichOneof("record_type")
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "history":
            steps += [int(i.value_json) for i in message.history.item if i.nested_key == ["_step"]]
    assert chunks.problems == [], "the W&B file layout (blocks, chunks, CRCs) changed"
    assert kinds.get("run") == 1 and kinds.get("exit") == 1, f"W&B records changed: {kinds}"
    assert steps == list(range(STEPS)), "W&B history records no longer carry _step as before"


def test_offline_runs_import_with_config_summary_history_and_ending(
    wandb_dir: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"

    report = import_report(home, str(wandb_dir))  # detected

    assert report["format"] == "wandb" and len(report["imported"]) == 2, report
    with open_store(home) as store:
        runs = {r.name: r for r in store.list_runs()}
        good, crashed = runs["good"], runs["crashed"]
        assert (good.status.value, crashed.status.value) == ("completed", "failed")
        assert store.sessions(crashed.id)[0].exit_code == 3
        assert good.project == "interop"
        assert good.tags["wandb.tags"] == "a,b" and good.tags["wandb.notes"] == "first try"
        assert good.tags["imported-from"] == "wandb"
        (params,) = [e.event.payload["data"] for e in store.events(good.id, kinds=["params"])]
        assert params == {"lr": 0.001, "optim": {"name": "adam", "beta1": 0.9}, "layers": [64, 64]}
        assert good.summary["best_acc"] == 0.75
        assert not any(key.startswith("_") for key in good.summary)

        assert store.metric_keys(good.id) == ["loss", "lr", "val.acc"]
        loss = store.metric_series(good.id, "loss")
        assert loss.steps == list(range(STEPS))
        expected = [SPECIAL.get(s, 1 / (s + 1)) for s in range(STEPS)]
        assert [bits(v) for v in loss.values] == [bits(v) for v in expected]
        assert store.metric_series(good.id, "lr").steps == list(range(0, STEPS, 100))
        acc = store.metric_series(good.id, "val.acc")
        assert acc.values == [s / 1000 for s in range(STEPS)]
        assert good.started_at is not None and good.ended_at is not None
        assert good.started_at <= loss.times[0] <= loss.times[-1] <= good.ended_at
        assert loss.times == sorted(loss.times)

    again = import_report(home, str(wandb_dir))
    assert again["imported"] == [] and len(again["skipped"]) == 2


def test_a_run_file_cut_short_keeps_what_came_before(wandb_dir: Path, tmp_path: Path) -> None:
    from backprop_wandb.importer import run_files
    from backprop_wandb.transaction_log import read_chunks

    good = next(p for p in run_files(wandb_dir) if b"good" in p.read_bytes())
    cut = tmp_path / "offline-run-cut" / good.name
    cut.parent.mkdir()
    data = good.read_bytes()
    end = len(data) // 2
    while True:  # inside a record: a cut at a record's end is just a shorter file
        chunks = read_chunks(data[:end], cut)
        sum(1 for _ in chunks.records)
        if chunks.problems:
            break
        end -= 1
    cut.write_bytes(data[:end])
    home = tmp_path / "home"

    report = import_report(home, str(cut.parent), "--format", "wandb")

    assert len(report["imported"]) == 1 and report["problems"] == []
    assert "unfinished record" in " ".join(report["warnings"])
    with open_store(home) as store:
        (run,) = store.list_runs()
        assert run.status.value == "lost"  # no exit record: the run died
        loss = store.metric_series(run.id, "loss")
        assert 0 < len(loss) < STEPS and loss.steps == list(range(len(loss)))
