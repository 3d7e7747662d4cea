"""Watchers (``backprop_register_watchers``): what a script leaves on disk while it runs,
recorded with the run. The ``tensorboard`` watcher gives an unmodified script that logs to
TensorBoard its charts in backprop (docs/interop.md, "Live TensorBoard logs")."""

from __future__ import annotations

import struct
import textwrap
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.core.test_plugin_loading import make_dist, with_site
from tests.run.conftest import Bp

COUNTING_PLUGIN = textwrap.dedent(
    '''
    """A third-party watcher: how many ``*.txt`` files the script left, as a metric."""
    from __future__ import annotations

    from backprop_core import Event, WatchContext, Watcher, hookimpl


    class TextFiles(Watcher):
        name = "text-files"

        def __init__(self, context: WatchContext) -> None:
            self.context = context

        @classmethod
        def create(cls, context: WatchContext) -> TextFiles:
            return cls(context)

        def poll(self, now: float) -> list[Event]:
            return []

        def finish(self, now: float) -> list[Event]:
            count = len(list(self.context.cwd.glob("*.txt")))
            data = {"data": {"text_files": count}}
            return [Event("metrics", now, None, data, self.context.session)]


    @hookimpl
    def backprop_register_watchers() -> list[type[Watcher]]:
        return [TextFiles]
    '''
)


def test_hook_register_watchers(bp: Bp, tmp_path: Path) -> None:
    """backprop_register_watchers: a watcher from an installed plugin sees what the script
    left behind, and what it returns is recorded with the run."""
    site = tmp_path / "site"
    make_dist(site, "backprop-text-files", "backprop_text_files", COUNTING_PLUGIN, "text_files")
    bp.script("train.py", "for i in range(3):\n    open(f'out{i}.txt', 'w').close()\n")

    result = bp.run("run", "train.py", env=with_site(site))

    assert result.returncode == 0, result.stderr
    assert bp.only_run().last_metrics == {"text_files": 3}


def _f32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


LOGGING_SCRIPT = """
import os, sys, time
from torch.utils.tensorboard import SummaryWriter

writer = SummaryWriter("runs/exp")
for step in range(5):
    writer.add_scalar("loss", 1 / (step + 1), step)
    writer.add_scalar("acc", step / 10, step)
writer.flush()
print("five steps written", flush=True)
while not os.path.exists("go"):  # the test says when to finish
    time.sleep(0.05)
writer.add_scalar("loss", 0.125, 5)
writer.close()
"""


@pytest.mark.slow
def test_an_unmodified_script_logging_to_tensorboard_gets_its_charts_while_it_runs(
    bp: Bp,
) -> None:
    from torch.utils.tensorboard import SummaryWriter

    # Event files from before the session (an earlier run's) are not this run's metrics.
    old = SummaryWriter(str(bp.work / "runs" / "old"))
    old.add_scalar("old_loss", 9.0, 0)
    old.close()
    bp.script("train.py", LOGGING_SCRIPT)
    proc = bp.start("run", "train.py", env={"BACKPROP_TENSORBOARD__POLL_SECONDS": "0.2"})

    def points(key: str) -> list[tuple[int | None, float]]:
        with bp.store() as store:
            runs = store.list_runs()
            if not runs:
                return []
            series = store.metric_series(runs[0].id, key)
            return list(zip(series.steps, series.values))

    # Recorded while the script still runs: it waits for "go".
    wait_for(lambda: len(points("loss")) == 5, timeout=120, what="the first five points")
    (bp.work / "go").touch()
    _, err = proc.communicate(timeout=120)

    assert proc.returncode == 0, err.decode()
    assert points("loss") == [(s, _f32(1 / (s + 1))) for s in range(5)] + [(5, 0.125)]
    assert points("acc") == [(s, _f32(s / 10)) for s in range(5)]
    run = bp.only_run()
    assert "old_loss" not in run.last_metrics and run.last_step == 5


SDK_AND_TENSORBOARD = """
import backprop_core.sdk as bp
from torch.utils.tensorboard import SummaryWriter

writer = SummaryWriter("runs/exp")
bp.log({"loss": 0.5}, step=0)
for step in range(3):
    writer.add_scalar("tb_only", step, step)
writer.close()
"""


@pytest.mark.slow
def test_a_script_that_reports_its_own_metrics_is_not_recorded_twice(bp: Bp) -> None:
    bp.script("train.py", SDK_AND_TENSORBOARD)
    result = bp.run("run", "train.py")
    assert result.returncode == 0, result.stderr
    assert bp.only_run().last_metrics == {"loss": 0.5}


# An event file with one scalar, written with backprop's own writer (quick: no PyTorch).
WRITES_EVENTS = """
from pathlib import Path
from backprop_tensorboard.event_file import frame, protos

p = protos()
header = p.event.Event(wall_time=1.0, file_version="brain.Event:2")
event = p.event.Event(wall_time=1.5, step=3)
event.summary.value.add(tag="loss", simple_value=0.25)
Path("runs/x").mkdir(parents=True, exist_ok=True)
with open("runs/x/events.out.tfevents.1.host", "ab") as fh:
    fh.write(frame(p.crc32c, [header.SerializeToString(), event.SerializeToString()]))
"""


def test_event_files_are_followed_unless_the_watch_list_is_empty(bp: Bp) -> None:
    bp.script("train.py", WRITES_EVENTS)
    on = bp.run("run", "train.py")
    assert on.returncode == 0, on.stderr
    (bp.work / "runs" / "x" / "events.out.tfevents.1.host").unlink()
    off = bp.run("run", "train.py", env={"BACKPROP_TENSORBOARD__WATCH": "[]"})
    assert off.returncode == 0, off.stderr
    first, second = sorted(bp.runs(), key=lambda r: r.created_at)
    assert (first.last_metrics, first.last_step) == ({"loss": 0.25}, 3)
    assert second.last_metrics == {}
