"""Unmodified scripts under ``backprop run``: the captured output of real scripts, printed again
line by line with realistic pauses, gets its metrics recorded; settings tune or stop it."""

from __future__ import annotations

import json
import re

from backprop_core.store.records import RunStatus
from tests.conftest import REPO, wait_for

from .conftest import Bp

FIXTURES = REPO / "tests" / "fixtures" / "training-output"

# Prints a captured output as the script did: a line at a time, a few milliseconds apart.
REPLAY = """
import sys, time
for line in open(sys.argv[1], encoding="utf-8"):
    print(line, end="", flush=True)
    time.sleep(0.003)
"""


def replay(bp: Bp, capture: str, *flags: str) -> tuple[str, dict[str, list[tuple[int, float]]]]:
    """Run the replay of ``capture``; the run id and its series as (step, value) lists."""
    bp.script("replay.py", REPLAY)
    result = bp.run("run", *flags, "replay.py", str(FIXTURES / capture))
    assert result.returncode == 0, result.stderr
    run = bp.runs()[0]
    assert run.status == RunStatus.COMPLETED
    with bp.store() as store:
        series = {}
        for key in store.metric_keys(run.id):
            s = store.metric_series(run.id, key, max_points=None)
            series[key] = list(zip(s.steps, s.values))
    return run.id, series


def test_nanogpt_replayed_under_run_records_its_metrics_and_nothing_else(bp: Bp) -> None:
    text = (FIXTURES / "nanogpt-shakespeare-char.log").read_text()
    run_id, series = replay(bp, "nanogpt-shakespeare-char.log")
    assert set(series) == {"loss", "time_ms", "mfu_pct", "train_loss", "val_loss"}
    iters = re.findall(r"^iter (\d+): loss ([\d.]+), time ([\d.]+)ms", text, re.M)
    assert series["loss"] == [(int(i), float(v)) for i, v, _ in iters]
    assert series["time_ms"] == [(int(i), float(t)) for i, _, t in iters]
    evals = re.findall(r"^step (\d+): train loss ([\d.]+), val loss ([\d.]+)$", text, re.M)
    assert series["val_loss"] == [(int(s), float(v)) for s, _, v in evals]
    run = bp.runs()[0]
    assert run.last_step == 100
    # The printed lines stay plain output: on the terminal and in the log, as printed.
    log = (bp.home / "runs" / run_id / "session-1.log").read_text()
    assert log == text


def test_dcgan_replayed_under_run_records_its_losses_at_global_batches(bp: Bp) -> None:
    _, series = replay(bp, "pytorch-examples-dcgan.log")
    assert set(series) == {"Loss_D", "Loss_G", "D_x", "D_G_z"}
    assert [step for step, _ in series["Loss_D"]] == list(range(16))
    assert series["D_G_z"][8] == (8, 0.3420)


def test_no_output_scalars_records_no_metrics(bp: Bp) -> None:
    _, series = replay(bp, "nanogpt-shakespeare-char.log", "--no-output-scalars")
    assert series == {}


def test_event_lines_keep_priority_over_printed_metrics(bp: Bp) -> None:
    bp.script(
        "both.py",
        """
        import json, os, time
        print("iter 1: loss 0.9, time 10ms", flush=True)
        deadline = time.monotonic() + 60
        while not os.path.exists("go") and time.monotonic() < deadline:
            time.sleep(0.01)
        print(json.dumps({"event": "metrics", "step": 2, "data": {"loss": 0.5}}), flush=True)
        print("iter 3: loss 0.4, time 10ms", flush=True)
        """,
    )
    proc = bp.start("run", "--run-id", "both", "both.py")

    def printed_metric_recorded() -> bool:
        with bp.store() as store:
            return "time_ms" in store.metric_keys("both")

    wait_for(printed_metric_recorded, what="the printed line's metrics", ignore=(Exception,))
    (bp.work / "go").touch()
    assert proc.wait(120) == 0
    with bp.store() as store:
        loss = store.metric_series("both", "loss", max_points=None)
        times = store.metric_series("both", "time_ms", max_points=None)
    # Printed metrics until the script reported metrics itself; then only its own.
    assert list(zip(loss.steps, loss.values)) == [(1, 0.9), (2, 0.5)]
    assert list(times.steps) == [1]


def test_your_patterns_from_the_project_config(bp: Bp) -> None:
    (bp.work / "backprop.config.json").write_text(
        json.dumps({"outputScalars": {"patterns": [r"^FID@(?P<step>\d+)=(?P<fid>[\d.]+)$"]}})
    )
    bp.script("gan.py", 'print("FID@10=31.5")\nprint("FID@20=28.25")\n')
    result = bp.run("run", "gan.py")
    assert result.returncode == 0, result.stderr
    with bp.store() as store:
        fid = store.metric_series(bp.only_run().id, "fid", max_points=None)
    assert list(zip(fid.steps, fid.values)) == [(10, 31.5), (20, 28.25)]


def test_a_bad_pattern_is_one_line_naming_it_and_nothing_starts(bp: Bp) -> None:
    (bp.work / "backprop.config.json").write_text(
        json.dumps({"outputScalars": {"patterns": [r"loss=(?P<loss>[\d.]+", "plain"]}})
    )
    bp.script("train.py", "print('hi')\n")
    for args in (("run", "train.py"), ("config", "validate")):
        result = bp.run(*args)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 3 and "Traceback" not in result.stderr  # a header and two lines
        assert "$.outputScalars.patterns[0]: 'loss=(?P<loss>[\\\\d.]+'" in result.stderr
        assert "not a valid regular expression" in result.stderr
        assert "$.outputScalars.patterns[1]: 'plain' names no metric" in result.stderr
    (bp.work / "backprop.config.json").write_text(
        json.dumps({"outputScalars": {"patterns": ["(?P<loss>[0-9.+"]}})
    )
    result = bp.run("run", "train.py")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("backprop: error: invalid configuration: ")
    assert "backprop.config.json: $.outputScalars.patterns[0]: " in result.stderr
    assert "'(?P<loss>[0-9.+' is not a valid regular expression" in result.stderr
    assert bp.runs() == []
