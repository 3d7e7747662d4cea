"""``bp.checkpoint(path)`` is delivered before it returns: a process killed (SIGKILL) right
after still has the checkpoint on record, on its own and under ``backprop run``."""

from __future__ import annotations

import signal
from pathlib import Path

from backprop_core.store.records import RunStatus
from tests.sdk.helpers import only_run, run_script, store, write_script
from tests.sdk.test_monitors_e2e import backprop_run

KILLED_AFTER_CHECKPOINT = """
import os, signal
import backprop_core as bp
bp.init()
for step in range(100):
    bp.log({"loss": 1.0 / (step + 1)}, step=step)
with open("model.pt", "w") as f:
    f.write("weights")
bp.checkpoint("model.pt", step=99)
os.kill(os.getpid(), signal.SIGKILL)  # nothing after this runs: no flush, no exit hook
"""


def test_checkpoint_then_sigkill_is_recorded_standalone(tmp_path: Path) -> None:
    script = write_script(tmp_path, KILLED_AFTER_CHECKPOINT)
    result = run_script(script)
    assert result.returncode == -signal.SIGKILL
    st = store()
    run = only_run(st)
    (ckpt,) = st.checkpoints(run.id)
    assert (ckpt.path, ckpt.step) == (str(tmp_path / "model.pt"), 99)


def test_checkpoint_then_sigkill_is_recorded_under_backprop_run(tmp_path: Path) -> None:
    script = write_script(tmp_path, KILLED_AFTER_CHECKPOINT)
    result = backprop_run(str(script), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    st = store()
    run = only_run(st)
    assert run.status == RunStatus.KILLED
    (ckpt,) = st.checkpoints(run.id)
    assert (ckpt.path, ckpt.step) == (str(tmp_path / "model.pt"), 99)
    assert "last checkpoint" in result.stderr and "model.pt" in result.stderr
