"""The SDK through the real ``backprop run``: what the script logs lands in the store, and a
time-boxed run resumes from the checkpoint the SDK announced."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
from pathlib import Path

import pytest

from backprop_core.store.records import RunStatus
from tests.sdk.helpers import only_run, store, write_script
from tests.sdk.test_monitors_e2e import backprop_run

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("backprop_core.cli.run") is None,
    reason="`backprop run` (backprop_core.cli.run) is not available",
)


def test_metrics_checkpoints_summary_and_status_through_backprop_run(tmp_path: Path) -> None:
    script = write_script(
        tmp_path,
        """
        import backprop_core as bp
        run = bp.init(config={"lr": 0.5})
        print('user output {"event": "metrics", "data": {"fake": 1}} is not ours')
        for step in range(200):
            bp.log({"loss": 1.0 / (step + 1), "gnorm": float("inf") if step == 7 else 1.0},
                   step=step)
        bp.checkpoint("model.pt", step=199, metrics={"loss": 0.005})
        bp.summary({"best": 0.005})
        print("RUN_ID", run.id)
        """,
    )
    result = backprop_run(str(script), "--lr", "0.1", "--epochs=3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    st = store()
    run = only_run(st)
    assert f"RUN_ID {run.id}" in result.stdout  # attached to the supervised run
    assert run.params == {"lr": 0.5, "epochs": 3}  # the SDK's config wins over the arguments
    assert run.status == RunStatus.COMPLETED
    loss = st.metric_series(run.id, "loss")
    assert loss.steps == list(range(200))
    assert loss.values[3] == 0.25
    assert math.isinf(st.metric_series(run.id, "gnorm").values[7])
    (ckpt,) = st.checkpoints(run.id)
    assert (ckpt.path, ckpt.step) == (str(tmp_path / "model.pt"), 199)
    assert run.summary == {"best": 0.005}
    assert run.last_step == 199
    # The user's print that looks like an event is plain output on the events-pipe path.
    assert "fake" not in st.metric_keys(run.id)
    kinds = {e.event.kind for e in st.events(run.id)}
    assert "environment" in kinds


TIMEBOXED = """
import os, time
import backprop_core as bp
bp.init()
start = 0
resume = bp.resume_from()
if resume:
    start = int(open(resume).read()) + 1
print("START", start, flush=True)
step = start
while True:
    bp.log({"loss": 1.0 / (step + 1)}, step=step)
    if bp.should_checkpoint() or bp.should_stop():
        path = os.path.join(bp.active_run().checkpoint_dir, f"step-{step}.txt")
        open(path, "w").write(str(step))
        bp.checkpoint(path, step=step)
    if bp.should_stop():
        print("STOP AT", step, flush=True)
        break
    if step >= start + 40 and start:
        print("DONE", step, flush=True)
        break
    step += 1
    time.sleep(0.05)
"""


@pytest.mark.slow
def test_timeboxed_run_resumes_from_the_announced_checkpoint(tmp_path: Path) -> None:
    script = write_script(tmp_path, TIMEBOXED)
    first = backprop_run("-m", "0.05", "--grace", "20", str(script), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "START 0" in first.stdout and "STOP AT" in first.stdout
    stopped_at = int(first.stdout.split("STOP AT")[1].split()[0])
    st = store()
    run = only_run(st)
    assert run.status == RunStatus.TIMEBOXED
    last = st.checkpoints(run.id)[-1]
    assert last.step == stopped_at and Path(last.path).exists()
    second = subprocess.run(
        [*_cli(), "resume", run.id],
        cwd=tmp_path,
        env={**os.environ, "BACKPROP_GPU__PROBE": "none"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 0, second.stderr
    assert f"START {stopped_at + 1}" in second.stdout
    steps = [s for s in store().metric_series(run.id, "loss").steps if s is not None]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # continued, no overlap


def _cli() -> list[str]:
    import sys

    return [sys.executable, "-m", "backprop_core.cli"]
