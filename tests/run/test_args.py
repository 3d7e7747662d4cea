"""Script arguments pass through untouched; ``--resume-arg`` adds the checkpoint on resume."""

from __future__ import annotations

import json

import pytest

from backprop_core.store.records import RunStatus

from .conftest import Bp

STRICT = """
    import argparse, json, os, signal, sys, time
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("-m", "--mode", required=True)
    parser.add_argument("--resume", default=None)
    parser.add_argument("rest", nargs="*")
    args = parser.parse_args()
    session = os.environ["BACKPROP_SESSION"]
    with open(os.path.join(os.environ["BACKPROP_RUN_DIR"], "argv-%s.json" % session), "w") as f:
        json.dump(sys.argv[1:], f)
    while not stop:
        time.sleep(0.05)
    path = os.path.join(os.environ["BACKPROP_CHECKPOINT_DIR"], "ck with space-%s" % session)
    open(path, "w").write("x")
    print(json.dumps({"event": "checkpoint_saved", "path": path}))
"""


@pytest.mark.slow
def test_strict_argparse_and_resume_arg(bp: Bp) -> None:
    bp.script("strict.py", STRICT)
    args = ["--lr", "0.1", "-m", "fast", "a", "--", "b"]
    result = bp.run(
        "run", "-m", "0.03", "--resume-arg", "--resume {checkpoint}", "strict.py", *args
    )
    assert result.returncode == 0, result.stderr
    run = bp.only_run()
    assert run.status == RunStatus.TIMEBOXED
    run_dir = bp.home / "runs" / run.id
    assert json.loads((run_dir / "argv-1.json").read_text()) == args
    resumed = bp.run("resume", run.id, "-m", "0.03")
    assert resumed.returncode == 0, resumed.stderr
    checkpoint = str(run_dir / "checkpoints" / "ck with space-1")
    assert json.loads((run_dir / "argv-2.json").read_text()) == [*args, "--resume", checkpoint]


def test_a_mistyped_option_before_the_script_is_a_usage_error_and_records_nothing(
    bp: Bp,
) -> None:
    bp.script("train.py", "print('trained')\n")
    result = bp.run("run", "--max-minutes", "0.2", "train.py")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "backprop: error: no such option '--max-minutes'; "
        "did you mean --max-run-minutes or --stall-minutes?"
    )
    assert "trained" not in result.stdout
    assert not bp.home.exists() or bp.runs() == []


def test_options_after_the_script_still_go_to_the_script(bp: Bp) -> None:
    bp.script("echo_args.py", "import sys, json; print(json.dumps(sys.argv[1:]))\n")
    result = bp.run("run", "echo_args.py", "--max-minutes", "0.2", "--bogus")
    assert result.returncode == 0, result.stderr
    assert '["--max-minutes", "0.2", "--bogus"]' in result.stdout
