"""Checkpoint retention as policy (``checkpoints.keep``): ``gc`` keeps the newest N, the best
by a metric as logged at or before each checkpoint's step, checkpoints announced as best and
ones another run started from; real files in run folders, both stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backprop_core.events.event import Event
from backprop_core.store.contract import Store
from backprop_core.store.home import make_run_folder
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord

from .conftest import cli, cli_json

pytestmark = pytest.mark.slow
T0 = 1_790_000_000.0


def train(
    store: Store, run_id: str, losses: dict[int, float], steps: list[int], **fields: Any
) -> dict[int, Path]:
    """A finished run that logged ``val_loss`` at ``losses``' steps and saved a checkpoint file
    in its folder at each of ``steps``, in step order."""
    store.create_run(
        RunRecord(id=run_id, status=RunStatus.COMPLETED, created_at=T0, cwd="/", **fields)
    )
    folder = make_run_folder(store.home.run_dir(run_id)) / "checkpoints"
    folder.mkdir()
    files: dict[int, Path] = {}
    events = []
    for step in sorted({*losses, *steps}):
        if step in losses:
            events.append(Event("metrics", T0 + step, step, {"data": {"val_loss": losses[step]}}))
        if step in steps:
            files[step] = folder / f"step-{step}.pt"
            files[step].write_text(f"state {step}")
            events.append(
                Event("checkpoint_saved", T0 + step + 0.5, step, {"path": str(files[step])})
            )
    store.append_events(run_id, events)
    return files


def kept_steps(files: dict[int, Path]) -> list[int]:
    return [step for step, path in files.items() if path.exists()]


def test_the_best_checkpoint_is_judged_by_the_metric_at_or_before_its_step(store: Store) -> None:
    # the loss logged at step 21 (0.1) comes after the step-20 checkpoint: it describes a
    # later state, so the best checkpoint is the step-30 one (0.4), not step 20's (0.5)
    losses = {10: 0.8, 19: 0.5, 21: 0.1, 30: 0.4, 40: 0.6, 50: 0.7}
    files = train(store, "r1", losses, [10, 20, 30, 40, 50])
    report = cli_json("gc", "--keep-last", "1", "--keep-best", "val_loss")
    assert kept_steps(files) == [30, 50]
    reasons = {i["path"]: i["reason"] for i in report["items"] if i["action"] == "keep"}
    assert reasons == {str(files[30]): "the best val_loss of the run (0.4)"}
    assert [c.step for c in store.checkpoints("r1")] == [30, 50]


def test_the_setting_decides_and_max_mode_keeps_the_highest(store: Store, home: Path) -> None:
    (home / "backprop.config.json").write_text("{}")  # the home is no project folder
    files = train(store, "r1", {1: 0.2, 2: 0.9, 3: 0.4, 4: 0.5}, [1, 2, 3, 4])
    env = {
        "BACKPROP_CHECKPOINTS__KEEP__LAST": "1",
        "BACKPROP_CHECKPOINTS__KEEP__BEST": "val_loss:max",
    }
    cli("gc", env=env)
    assert kept_steps(files) == [2, 4]


def test_checkpoints_announced_best_or_started_from_are_kept(store: Store) -> None:
    files = train(store, "r1", {}, [1, 2, 3, 4])
    store.append_events(
        "r1", [Event("checkpoint_saved", T0 + 1.5, 1, {"path": str(files[1]), "best": True})]
    )
    store.create_run(RunRecord(id="r2", status=RunStatus.COMPLETED, created_at=T0 + 100))
    store.add_session(
        SessionRecord("r2", 1, RunStatus.COMPLETED, T0 + 100, resumed_from=str(files[2]))
    )
    report = cli_json("gc", "--keep-last", "1")
    assert kept_steps(files) == [1, 2, 4]
    reasons = {i["path"]: i["reason"] for i in report["items"] if i["action"] == "keep"}
    assert reasons == {str(files[1]): "announced as best", str(files[2]): "run r2 started from it"}


def test_a_runs_own_policy_wins_over_todays_and_gc_flags_over_both(store: Store) -> None:
    own = {"checkpoints": {"keep": {"last": 4, "best": None}}}
    files = train(store, "mine", {}, [1, 2, 3, 4, 5, 6], settings=own)
    defaults = train(store, "plain", {}, [1, 2, 3, 4, 5, 6])
    cli("gc")
    assert kept_steps(files) == [3, 4, 5, 6]
    assert kept_steps(defaults) == [4, 5, 6]  # today's default: the newest 3
    cli("gc", "--keep-last", "2")
    assert kept_steps(files) == [5, 6] and kept_steps(defaults) == [5, 6]


def test_run_records_its_keep_flags(bp: Any) -> None:
    bp.script("t.py", "print('done')\n")
    result = bp.run("run", "--json", "--keep-last", "7", "--keep-best", "acc:max", "t.py")
    assert result.returncode == 0, result.stderr
    run_id = json.loads(result.stdout.splitlines()[-1])["run_id"]
    settings = cli_json("show", run_id, env=bp.env)["settings"]
    best = {"metric": "acc", "mode": "max"}
    assert settings["checkpoints"]["keep"] == {"last": 7, "best": best}
