"""Script arguments pass through untouched; ``--resume-arg`` adds the checkpoint on resume."""

from __future__ import annotations

import json

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
