"""Checkpoints a real run announces, then `backprop gc`: the newest copy of a file the script
overwrites survives, files the run made are deleted, anything else is only forgotten."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.run.conftest import Bp

SAVES = """
import json, os, pathlib, sys
if os.environ.get("BACKPROP_RESUME_FROM"):
    print("resuming from", os.environ["BACKPROP_RESUME_FROM"])
    sys.exit(0)
def announce(path, step):
    print(json.dumps({"event": "checkpoint_saved", "path": path, "step": step}), flush=True)
for step in range(3):
    pathlib.Path(f"step-{step}.pt").write_bytes(b"w" * 100)
    announce(f"step-{step}.pt", step)
announce("notes.txt", 3)  # the user's file, there before the run
for step in range(4, 7):  # one file saved again and again, as Lightning's last.ckpt
    pathlib.Path("ckpt.pt").write_bytes(b"c" * step)
    announce("ckpt.pt", step)
"""


def gc_report(bp: Bp, *args: str) -> dict[str, str]:
    result = bp.run("gc", *args, "--json")
    assert result.returncode == 0, result.stderr
    return {Path(i["path"]).name: i["action"] for i in json.loads(result.stdout)["items"]}


def test_a_run_keeps_its_newest_checkpoint_and_gc_deletes_only_what_it_made(bp: Bp) -> None:
    (bp.work / "notes.txt").write_text("mine")
    bp.script("train.py", SAVES)
    assert bp.run("run", "train.py").returncode == 0
    run = bp.only_run()
    with bp.store() as store:
        assert [c.path for c in store.checkpoints(run.id)][-1] == "ckpt.pt"
        assert run.checkpoint_count == 5  # ckpt.pt once, not three times

    with open(bp.work / "step-1.pt", "ab") as fh:  # changed since it was announced
        fh.write(b"more")
    assert gc_report(bp, "--keep-last", "1") == {
        "step-0.pt": "delete",
        "step-1.pt": "forget",
        "step-2.pt": "delete",
        "notes.txt": "forget",
    }
    assert sorted(p.name for p in bp.work.iterdir()) == [
        "ckpt.pt",
        "notes.txt",
        "step-1.pt",
        "train.py",
    ]
    assert (bp.work / "ckpt.pt").read_bytes() == b"c" * 6
    assert (bp.work / "notes.txt").read_text() == "mine"
    resumed = bp.run("resume", run.id)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from ckpt.pt" in resumed.stdout


STANDALONE = """
import pathlib
import backprop_core as bp
bp.init(name="alone")
for step in range(3):
    pathlib.Path("ckpt.pt").write_bytes(b"c" * (step + 1))
    bp.checkpoint("ckpt.pt", step=step)
    pathlib.Path(f"epoch-{step}.pt").write_bytes(b"e")
    bp.checkpoint(f"epoch-{step}.pt", step=step)
bp.finish()
"""


def test_a_standalone_sdk_run_owns_the_files_it_made(bp: Bp) -> None:
    script = bp.script("alone.py", STANDALONE)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=bp.work, env=bp.env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert gc_report(bp, "--keep-last", "2") == {"epoch-0.pt": "delete", "epoch-1.pt": "delete"}
    assert sorted(p.name for p in bp.work.iterdir()) == ["alone.py", "ckpt.pt", "epoch-2.pt"]
    assert (bp.work / "ckpt.pt").read_bytes() == b"ccc"


HOSTILE = """
import json, os
home = os.environ["BACKPROP_HOME"]
with open(home + "/planted.db", "w") as fh:  # made by the run, but inside the home
    fh.write("x")
for path in ("/etc", "/usr", home + "/backprop.db", home + "/runs", os.path.expanduser("~"), ".."):
    print(json.dumps({"event": "checkpoint_saved", "path": path}))
print(json.dumps({"event": "checkpoint_saved", "path": home + "/planted.db"}))
"""


def test_announcing_system_folders_or_the_store_itself_deletes_nothing(bp: Bp) -> None:
    bp.script("hostile.py", HOSTILE)
    assert bp.run("run", "hostile.py").returncode == 0
    run = bp.only_run()
    with bp.store() as store:
        assert [c.file for c in store.checkpoints(run.id)] == [None] * 7
    report = gc_report(bp, "--keep-last", "0", "--dry-run")
    assert set(report.values()) == {"forget"} and len(report) == 7
