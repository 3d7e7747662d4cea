"""A home on a real, small filesystem that fills up while a run records (docs/store.md, "When
the disk is full"): said at once, the script stopped like a time box, nothing recorded lost
when space returns, the run failed with reason ``disk full`` and exit 1."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backprop_core.events.event import Event
from backprop_core.plugin.manager import get_plugins
from backprop_core.settings.model import Settings
from backprop_core.store.opening import open_store
from backprop_core.store.process_identity import here
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord
from tests.conftest import fill_disk, mounted_tmpfs, run_cli, wait_for

from .conftest import Bp

WRITER = """
    import json, os, signal, time
    stop = False
    def on_stop(*_):
        global stop
        stop = True
    signal.signal(signal.SIGTERM, on_stop)
    step = 0
    while not stop:
        print(json.dumps({"event": "metrics", "step": step, "data": {"loss": 1 / (step + 1)}}))
        print("output line " + "x" * 200, flush=True)
        if step % 50 == 0:
            print(json.dumps({"event": "checkpoint_saved", "path": f"c{step}.pt", "step": step}))
        step += 1
        time.sleep(0.01)
    # Stopped: checkpoint once there is room again (WAIT_FOR names the file that says so).
    flag = os.environ.get("WAIT_FOR")
    while flag and not os.path.exists(flag):
        time.sleep(0.05)
    print(json.dumps({"event": "checkpoint_saved", "path": "final.pt", "step": step - 1}))
    print(f"stopped after step {step - 1}", flush=True)
"""


class Lines:
    """A process's stderr, collected by a thread as it arrives."""

    def __init__(self, stream: object) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for raw in stream:  # type: ignore[attr-defined]
            self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture(params=["sqlite", "json"])
def small_home(request: pytest.FixtureRequest, bp: Bp, tmp_path: Path) -> Iterator[Path]:
    """``bp``'s home on a 16 MB filesystem of its own, with the store named by the param."""
    mnt = tmp_path / "mnt"
    with mounted_tmpfs(mnt, "size=16m"):
        bp.home = mnt / "home"
        bp.env.update(BACKPROP_HOME=str(bp.home), BACKPROP_STORE=request.param)
        yield mnt
        bp.cleanup()  # before the unmount


def _store(bp: Bp):  # type: ignore[no-untyped-def]
    settings = Settings.from_config({"store": bp.env["BACKPROP_STORE"]}, home=bp.home)
    return open_store(settings, reconcile=False)


def _recording(bp: Bp) -> RunRecord | None:
    with _store(bp) as store:
        runs = store.list_runs()
    return runs[0] if runs and (runs[0].last_step or 0) >= 20 else None


def test_full_disk_stops_the_run_and_everything_is_recorded_once_space_returns(
    bp: Bp, small_home: Path
) -> None:
    bp.script("writer.py", WRITER)
    freed = bp.work / "space-freed"  # not on the full disk
    proc = bp.start("run", "--grace", "120", "writer.py", env={"WAIT_FOR": str(freed)})
    stderr = Lines(proc.stderr)
    run = wait_for(lambda: _recording(bp), timeout=90, what="a run recording")
    fill_disk(small_home / "filler")
    filled_at = time.monotonic()
    wait_for(lambda: "disk full" in stderr.text(), timeout=60, what="the supervisor to say so")
    assert time.monotonic() - filled_at < 30  # said at once, not at the end
    assert proc.poll() is None  # stopping: the script waits for room to checkpoint
    # A read command on the full disk, while the run is live: nothing moved aside.
    listed = bp.run("list")
    assert "move it aside" not in listed.stderr and "corrupt" not in listed.stderr
    assert listed.returncode == 0 and "running" in listed.stdout, listed.stderr

    (small_home / "filler").unlink()
    freed.touch()
    assert proc.wait(120) == 1
    text = stderr.text()
    assert "disk full: sent SIGTERM" in text and "failed after" in text, text
    assert "could not be recorded" not in text, text
    with _store(bp) as store:
        ended = store.get_run(run.id)
        [session] = store.sessions(run.id)
        loss = store.metric_series(run.id, "loss")
        checkpoints = [c.path for c in store.checkpoints(run.id)]
    assert (ended.status, ended.reason) == (RunStatus.FAILED, "disk full")
    assert (session.status, session.reason) == (RunStatus.FAILED, "disk full")
    log = (bp.home / "runs" / run.id / "session-1.log").read_text()
    last = int(log.rsplit("stopped after step ", 1)[1].split()[0])
    # Every step the script logged is there, the ones from while the disk was full included.
    assert loss.steps == list(range(last + 1))
    assert checkpoints[-1] == "final.pt" and ended.last_step == last
    assert log.count("output line") == last + 1


def test_a_disk_that_stays_full_fails_the_run_and_says_what_was_not_recorded(
    bp: Bp, small_home: Path
) -> None:
    bp.script("writer.py", WRITER)
    proc = bp.start("run", "--grace", "120", "writer.py")
    stderr = Lines(proc.stderr)
    run = wait_for(lambda: _recording(bp), timeout=90, what="a run recording")
    fill_disk(small_home / "filler")
    assert proc.wait(120) == 1
    text = stderr.text()
    said = text.index("error: disk full under")
    assert said < text.index("disk full: sent SIGTERM") < text.index("could not be recorded")
    assert re.search(r"session 1 failed after [0-9:]+: disk full", text), text
    (small_home / "filler").unlink()
    # Neither the end nor the last events could be recorded: the run's supervisor is gone.
    listed = bp.run("list")
    assert listed.returncode == 0 and "lost" in listed.stdout, listed.stderr
    with _store(bp) as store:
        assert store.get_run(run.id).status is RunStatus.LOST


def test_read_commands_on_a_full_disk_say_disk_full_and_move_nothing_aside(
    bp: Bp, small_home: Path
) -> None:
    store = get_plugins().store_class(bp.env["BACKPROP_STORE"])(bp.home)
    store.home.ensure()
    store.create_run(RunRecord(id="r-done", status=RunStatus.COMPLETED, created_at=1.0))
    store.append_events("r-done", [Event("metrics", 1.0, 1, {"data": {"loss": 1.0}})])
    # An active run whose supervisor died: reading it means writing that it is lost.
    store.create_run(RunRecord(id="r-dead", status=RunStatus.RUNNING, created_at=2.0))
    scope = here()
    store.add_session(
        SessionRecord(
            "r-dead",
            1,
            RunStatus.RUNNING,
            2.0,
            supervisor_pid=2**22 + 1,  # above the largest pid
            supervisor_started=2.0,
            host=scope.host,
            boot_id=scope.boot_id,
            pid_namespace=scope.pid_namespace,
            heartbeat_at=2.0,
        )
    )
    store.close()
    before = sorted(p.name for p in bp.home.iterdir())
    fill_disk(small_home / "filler")
    env = {"BACKPROP_HOME": str(bp.home), "BACKPROP_STORE": bp.env["BACKPROP_STORE"]}
    for command in (["list"], ["show", "r-done"]):
        result = run_cli(*command, env=env)
        said = result.stdout + result.stderr
        assert "disk full" in said, said
        assert "move it aside" not in said and "Traceback" not in said, said
        if result.returncode != 0:  # it could not be read at all: one line says why
            assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
    assert not list(bp.home.glob("*.corrupt-*"))
    (small_home / "filler").unlink()
    after = run_cli("list", env=env)
    assert after.returncode == 0 and after.stderr == "", after.stderr
    statuses = [line.split("\t")[3] for line in after.stdout.splitlines()]  # after SCRIPT
    assert statuses == ["lost", "completed"]
    assert sorted(p.name for p in bp.home.iterdir() if "corrupt" in p.name) == []
    assert set(before) <= {p.name for p in bp.home.iterdir()}
