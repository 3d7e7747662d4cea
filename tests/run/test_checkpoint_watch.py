"""Checkpoints found without being announced: files a script writes that match
``checkpoints.watch`` are recorded once they stop changing, with their step, their file identity,
and one record per file however often it is rewritten."""

from __future__ import annotations

import os
import time
from pathlib import Path

from backprop_core.store.records import CheckpointRecord

from .conftest import Bp

FAST = {"BACKPROP_CHECKPOINTS__POLL_SECONDS": "0.2"}

LAYOUTS = """
import json, os

def write(path, size):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"x" * size)

for step in range(1, 31):
    print(f"iter {step}: loss {1.0 / step:.4f}", flush=True)
    if step % 10 == 0:
        write("out/ckpt.pt", 100 + step)  # nanoGPT: one file rewritten in place
    if step == 12:
        for name in ("model.safetensors", "optimizer.pt"):
            write("hf/checkpoint-900/" + name, 50)
        write("hf/checkpoint-900/trainer_state.json", 5)
        write("hf/checkpoint-1000/model.safetensors", 50)
        write("hf/tmp-checkpoint-1100/model.safetensors", 50)  # still being written
        write("lightning_logs/version_0/checkpoints/epoch=12-step=1664.ckpt", 60)
        write("lightning_logs/version_0/checkpoints/last.ckpt", 60)
        write("keras/model-05.keras", 70)
        write("notes.txt", 10)
        write(".venv/lib/weights.pt", 10)
        write("node_modules/pkg/weights.bin", 10)
        write("rewritten.pt", 11)
    if step == 20:
        write("announced.pt", 80)
        print(json.dumps({"event": "checkpoint_saved", "path": "announced.pt", "step": 20}))
"""


def _by_name(checkpoints: list[CheckpointRecord], work: Path) -> dict[str, CheckpointRecord]:
    # announced paths are kept as given (relative to the run's folder), found ones absolute
    return {
        os.path.relpath(c.path, work) if os.path.isabs(c.path) else c.path: c for c in checkpoints
    }


def test_files_the_script_writes_are_recorded_as_checkpoints_with_their_steps(bp: Bp) -> None:
    (bp.work / "untouched.pt").write_bytes(b"old")  # there before: not this run's
    (bp.work / "rewritten.pt").write_bytes(b"old")  # there before, but the script rewrites it
    bp.script("train.py", LAYOUTS)
    result = bp.run("run", "train.py", env=FAST)
    assert result.returncode == 0, result.stderr
    run = bp.only_run()
    with bp.store() as store:
        found = _by_name(store.checkpoints(run.id), bp.work)
    assert set(found) == {
        "out/ckpt.pt",
        "hf/checkpoint-900",
        "hf/checkpoint-1000",
        "lightning_logs/version_0/checkpoints/epoch=12-step=1664.ckpt",
        "lightning_logs/version_0/checkpoints/last.ckpt",
        "keras/model-05.keras",
        "rewritten.pt",
        "announced.pt",
    }
    assert found["hf/checkpoint-900"].step == 900 and found["hf/checkpoint-1000"].step == 1000
    ckpt = "lightning_logs/version_0/checkpoints/"
    assert found[ckpt + "epoch=12-step=1664.ckpt"].step == 1664
    assert found["keras/model-05.keras"].step == 5
    # Names without a step take the last step seen in the script's output.
    assert found[ckpt + "last.ckpt"].step is not None and found[ckpt + "last.ckpt"].step >= 12
    # ckpt.pt, written at steps 10, 20 and 30: one record that moved forward to the last save
    latest = found["out/ckpt.pt"]
    assert latest.step is not None and latest.step >= 30
    st = (bp.work / "out" / "ckpt.pt").stat()
    assert latest.file is not None
    assert (latest.file.inode, latest.file.size, latest.file.mtime_ns) == (
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
    )
    assert latest.found_by == "checkpoints"
    # Announced and found: one record, the script's own (its step, no finder).
    assert found["announced.pt"].step == 20 and found["announced.pt"].found_by is None
    assert run.checkpoint_count == len(found)


def test_watching_can_be_narrowed_or_turned_off(bp: Bp) -> None:
    bp.script("train.py", LAYOUTS)
    narrowed = bp.run("run", "--watch-checkpoints", "out/*.pt", "train.py", env=FAST)
    assert narrowed.returncode == 0, narrowed.stderr
    off = bp.run("run", "--no-watch-checkpoints", "train.py", env=FAST)
    assert off.returncode == 0, off.stderr
    with bp.store() as store:
        first, second = sorted(store.list_runs(), key=lambda r: r.created_at)
        narrow = _by_name(store.checkpoints(first.id), bp.work)
        # only the announced one: nothing is found by watching
        none = _by_name(store.checkpoints(second.id), bp.work)
    assert set(narrow) == {"out/ckpt.pt", "announced.pt"}
    assert set(none) == {"announced.pt"}
    both = bp.run("run", "--watch-checkpoints", "*.pt", "--no-watch-checkpoints", "train.py")
    assert both.returncode == 2 and "contradict" in both.stderr


def _watcher(work: Path, home: Path, last_step: int | None = None):  # type: ignore[no-untyped-def]
    from backprop_checkpoint_watch.watcher import CheckpointWatcher
    from backprop_core.launch.spec import WatchContext
    from backprop_core.settings.model import Settings

    context = WatchContext(
        run_id="r",
        session=1,
        cwd=work,
        home=home,
        settings=Settings.from_config({}, home=home),
        created_at=time.time() - 60,
        started_at=time.time(),
        last_step=lambda: last_step,
    )
    watcher = CheckpointWatcher.create(context)
    assert watcher is not None
    return watcher


def test_a_file_is_recorded_once_it_stops_changing(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "before.pt").write_bytes(b"old")
    watcher = _watcher(work, tmp_path / "home", last_step=42)
    ckpt = work / "ckpt_300.pt"
    with ckpt.open("wb") as f:
        f.write(b"a" * 10)
        f.flush()
        assert watcher.poll(time.time()) == []  # just seen: maybe still being written
        f.write(b"b" * 10)
        f.flush()
        os.utime(ckpt, ns=(time.time_ns(), time.time_ns() + 1_000_000))
        assert watcher.poll(time.time()) == []  # changed since: still being written
    [event] = watcher.poll(time.time())  # the same at two looks in a row
    assert event.kind == "checkpoint_saved" and event.payload["step"] == 300
    assert event.file is not None and event.file.size == 20
    assert watcher.poll(time.time()) == []  # recorded once
    assert watcher.finish(time.time()) == []
    # a name without a step takes the last step seen; the untouched file stays unrecorded
    (work / "last.ckpt").write_bytes(b"c")
    [last] = watcher.finish(time.time())  # the script ended: whatever changed is complete
    assert last.payload["path"] == str(work / "last.ckpt") and last.payload["step"] == 42
