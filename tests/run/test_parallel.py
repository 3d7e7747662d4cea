"""``maxParallel: 1``: three concurrent runs never overlap and start in arrival order."""

from __future__ import annotations

import json

import pytest

from backprop_core.store.records import RunStatus
from tests.conftest import wait_for

from .conftest import Bp

STAMP = """
    import json, os, sys, time
    start = time.time()
    base = os.path.join(os.environ["BACKPROP_RUN_DIR"], "..", "..", "..")
    while not os.path.exists(os.path.join(base, "release")):  # the test lets runs finish
        time.sleep(0.02)
    time.sleep(0.5)
    stamps = os.path.join(os.environ["BACKPROP_RUN_DIR"], "..", "..", "..", "stamps.jsonl")
    with open(stamps, "a") as f:
        f.write(json.dumps({"name": sys.argv[1], "start": start, "end": time.time()}) + "\\n")
"""


@pytest.mark.slow
def test_max_parallel_one_serialises_runs_in_arrival_order(bp: Bp) -> None:
    bp.script("stamp.py", STAMP)
    env = {"BACKPROP_MAX_PARALLEL": "1"}
    queue = bp.home / "locks" / "queue"
    first = bp.start("run", "-n", "a", "stamp.py", "a", env=env)
    wait_for(lambda: any(r.status == RunStatus.RUNNING for r in bp.runs()), timeout=60)
    procs = [first]
    for name in ("b", "c"):
        before = len(list(queue.glob("*.ticket"))) if queue.exists() else 0
        procs.append(bp.start("run", "-n", name, "stamp.py", name, env=env))
        wait_for(lambda b=before: queue.exists() and len(list(queue.glob("*.ticket"))) > b)
    (bp.home.parent / "release").touch()
    for proc in procs:
        assert proc.wait(120) == 0
    stamps = [
        json.loads(line) for line in (bp.home.parent / "stamps.jsonl").read_text().splitlines()
    ]
    assert [s["name"] for s in sorted(stamps, key=lambda s: s["start"])] == ["a", "b", "c"]
    ordered = sorted(stamps, key=lambda s: s["start"])
    for earlier, later in zip(ordered, ordered[1:]):
        assert earlier["end"] <= later["start"], "two runs were active at once"
    waiting = procs[1].stderr.read().decode()  # type: ignore[union-attr]
    assert "1 of 1 parallel slots in use" in waiting
