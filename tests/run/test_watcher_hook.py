"""``backprop_register_watchers``: a third-party watcher, installed as a real distribution,
turns what a script leaves on disk into recorded events during a real ``backprop run``."""

from __future__ import annotations

import os
import textwrap

from tests.core.test_plugin_loading import make_dist

from .conftest import Bp

PLUGIN = '''
from __future__ import annotations

import os
from pathlib import Path

from backprop_core import Event, WatchContext, Watcher, hookimpl


class ScoreFile(Watcher):
    """Tails scores.txt in the run's folder: each "STEP VALUE" line is a metric point."""

    name = "score-file"

    def __init__(self, context: WatchContext) -> None:
        self.context = context
        self.path = Path(context.cwd) / "scores.txt"
        self.read = 0
        self.poll_seconds = float(os.environ["SCORE_FILE_POLL"])
        # Made before the script starts: the script can see that it was.
        (Path(context.cwd) / "baseline-taken").write_text(str(context.session))

    @classmethod
    def create(cls, context: WatchContext) -> ScoreFile | None:
        return cls(context) if os.environ.get("SCORE_FILE_WATCH") else None

    def poll(self, now: float) -> list[Event]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        done = text[: text.rfind("\\n") + 1]
        new, self.read = done[self.read :], len(done)
        events = []
        for line in new.splitlines():
            step, value = line.split()
            events.append(
                Event("metrics", now, int(step), {"data": {"score": float(value)}},
                      self.context.session)
            )
        return events


class Broken(Watcher):
    name = "broken-watcher"
    poll_seconds = 0.2

    @classmethod
    def create(cls, context: WatchContext) -> Broken | None:
        return cls() if os.environ.get("SCORE_FILE_WATCH") else None

    def poll(self, now: float) -> list[Event]:
        raise RuntimeError("a bug in a watcher")


@hookimpl
def backprop_register_watchers() -> list[type[Watcher]]:
    return [ScoreFile, Broken]
'''

SCRIPT = """
import os, time
print("baseline before start:", os.path.exists("baseline-taken"), flush=True)
with open("scores.txt", "a") as f:
    for step in range(1, 6):
        f.write("%d %d\\n" % (step, step * 10))
        f.flush()
        time.sleep(0.3)
"""


def test_hook_register_watchers(bp: Bp) -> None:
    site = bp.work.parent / "site"
    make_dist(site, "backprop-scorefile", "backprop_scorefile", textwrap.dedent(PLUGIN), "sf")
    env = {
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "SCORE_FILE_WATCH": "1",
        "SCORE_FILE_POLL": "0.1",
    }
    bp.script("train.py", SCRIPT)
    result = bp.run("run", "train.py", env=env)
    assert result.returncode == 0, result.stderr
    # made before the script started, so it can take its baseline of what is there
    assert "baseline before start: True" in result.stdout
    run = bp.only_run()
    with bp.store() as store:
        series = store.metric_series(run.id, "score")
    # every line, the last ones read by the final look after the script ended
    assert series.steps == [1, 2, 3, 4, 5]
    assert series.values == [10.0, 20.0, 30.0, 40.0, 50.0]
    # a watcher that raises is reported once and dropped; the run goes on
    assert result.stderr.count("watcher 'broken-watcher' stopped: RuntimeError") == 1
    assert run.status.value == "completed"

    # Polled too rarely to see anything while the script runs: the last look, once the script
    # ended, still reads everything it wrote.
    (bp.work / "scores.txt").unlink()
    late = bp.run("run", "train.py", env={**env, "SCORE_FILE_POLL": "600"})
    assert late.returncode == 0, late.stderr
    with bp.store() as store:
        runs = store.list_runs()
        assert store.metric_series(runs[0].id, "score").steps == [1, 2, 3, 4, 5]

    # Off unless the plugin's own switch is set: create() returning None costs nothing.
    (bp.work / "baseline-taken").unlink()
    again = bp.run("run", "train.py", env={"PYTHONPATH": env["PYTHONPATH"]})
    assert again.returncode == 0, again.stderr
    assert "baseline before start: False" in again.stdout and "broken-watcher" not in again.stderr
