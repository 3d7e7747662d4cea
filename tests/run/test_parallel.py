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


HOLD_GPU = """
    import json, os, sys, time
    base = os.path.join(os.environ["BACKPROP_RUN_DIR"], "..", "..", "..")
    print("CUDA_VISIBLE_DEVICES=" + os.environ.get("CUDA_VISIBLE_DEVICES", "unset"), flush=True)
    while not os.path.exists(os.path.join(base, "release-" + sys.argv[1])):
        time.sleep(0.02)
"""


def test_two_runs_are_never_handed_the_same_gpu(bp: Bp) -> None:
    gpus = bp.home.parent / "gpus.json"
    gpus.write_text(
        json.dumps(
            [
                {
                    "index": 0,
                    "uuid": "GPU-only-one",
                    "memory_total_mib": 16384,
                    "memory_used_mib": 0,
                    "memory_free_mib": 16384,
                    "temperature_c": 40,
                }
            ]
        )
    )
    env = {
        "BACKPROP_EXAMPLE_GPUS": str(gpus),
        "BACKPROP_GPU__PROBE": "example-gpu",
        "BACKPROP_MAX_PARALLEL": "2",  # a free slot: only the GPU can make a run wait
    }
    bp.script("hold.py", HOLD_GPU)
    first = bp.start("run", "-n", "a", "hold.py", "a", env=env)
    wait_for(lambda: any(r.status == RunStatus.RUNNING for r in bp.runs()), timeout=60)

    (bp.home.parent / "release-b").touch()  # b would end at once, were it admitted
    refused = bp.run("run", "--no-wait", "-n", "b", "hold.py", "b", env=env)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "reserved by other runs: 0" in refused.stderr

    queue = bp.home / "locks" / "queue"
    waiting = bp.start("run", "-n", "c", "hold.py", "c", env=env)
    wait_for(lambda: queue.exists() and any(queue.glob("*.ticket")), what="c waiting in line")
    (bp.home.parent / "release-a").touch()
    assert first.wait(60) == 0
    wait_for(lambda: len(bp.runs()) == 2, timeout=60, what="c admitted once a let go")
    (bp.home.parent / "release-c").touch()
    assert waiting.wait(60) == 0

    by_name = {r.name: r for r in bp.runs()}
    a, c = (bp.sessions(by_name[n].id)[0] for n in ("a", "c"))
    assert a.gpus == c.gpus == ["GPU-only-one"]
    assert a.ended_at is not None and c.started_at >= a.ended_at, "both held GPU 0 at once"
