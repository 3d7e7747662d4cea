"""A real run that prints steps no store can hold between good lines loses none of the good
ones, in either store."""

from __future__ import annotations

import pytest

from backprop_core.plugin.manager import get_plugins
from tests.run.conftest import Bp

BAD_STEPS = ["1e300", "1180591620717411303424", "-1180591620717411303424", "NaN", "Infinity"]
SCRIPT = f"""
import json
import backprop_core as bp
bad = {BAD_STEPS!r}
bp.init()
for step in range(2000):
    print(json.dumps({{"event": "metrics", "step": step, "data": {{"loss": 1.0 / (step + 1)}}}}))
    bp.log({{"sdk_loss": float(step)}}, step=step)
    if step % 250 == 7:
        bad_step = bad[step // 250 % 5]
        print('{{"event": "metrics", "step": ' + bad_step + ', "data": {{"loss": -1}}}}')
        bp.log({{"sdk_loss": -1.0}}, step=2**70)
    if step == 1000:
        print(json.dumps({{"event": "checkpoint_saved", "path": "ckpt.pt", "step": step}}))
print(json.dumps({{"event": "done"}}))
"""


@pytest.mark.parametrize("store", ["sqlite", "json"])
def test_bad_steps_between_good_lines_lose_no_good_line(bp: Bp, store: str) -> None:
    bp.env["BACKPROP_STORE"] = store
    bp.script("train.py", SCRIPT)
    result = bp.run("run", "train.py")
    assert result.returncode == 0, result.stderr
    assert "could not record" not in result.stderr
    with get_plugins().store_class(store)(bp.home) as s:
        (run,) = s.list_runs()
        assert run.done and run.last_step == 1999
        for key in ("loss", "sdk_loss"):
            series = s.metric_series(run.id, key)
            assert [step for step in series.steps if step is not None] == list(range(2000)), key
            assert len(series) == 2008  # the 8 bad lines are kept too, without a step
        assert [(c.path, c.step) for c in s.checkpoints(run.id)] == [("ckpt.pt", 1000)]
        alerts = [e.event.payload["text"] for e in s.events(run.id, kinds=["alert"])]
    assert alerts and all("64-bit" in text for text in alerts)
