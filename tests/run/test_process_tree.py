"""No process of the run survives: time box, Ctrl-C, ``backprop stop``, a killed supervisor."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time

import psutil
import pytest

from backprop_core.store.records import RunStatus
from backprop_core.supervisor.cgroup import RunCgroup
from tests.conftest import wait_for

from .conftest import Bp, alive

TREE = """
    import json, multiprocessing, os, signal, subprocess, sys, time

    def worker():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        while True:
            time.sleep(0.1)

    if __name__ == "__main__":
        # A stop that arrives while the tree is being built (a short box on a slow machine)
        # waits until pids.json is written, then takes its default course.
        stop = []
        signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
        multiprocessing.set_start_method("fork")
        workers = [multiprocessing.Process(target=worker) for _ in range(2)]
        for w in workers:
            w.start()
        stubborn = subprocess.Popen(
            [sys.executable, "-c",
             "import signal, time\\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
             "while True: time.sleep(0.1)"],
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        pids = {"script": os.getpid(), "workers": [w.pid for w in workers], "setsid": stubborn.pid}
        path = os.path.join(os.environ["BACKPROP_RUN_DIR"], "pids.json")
        with open(path + ".tmp", "w") as f:
            json.dump(pids, f)
        os.replace(path + ".tmp", path)
        print("tree ready", flush=True)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if stop:
            os.kill(os.getpid(), signal.SIGTERM)
        while True:
            time.sleep(0.1)
"""


def _pids(bp: Bp) -> list[int]:
    def read() -> dict | None:
        runs = bp.runs()
        if not runs:
            return None
        path = bp.home / "runs" / runs[0].id / "pids.json"
        return json.loads(path.read_text()) if path.exists() else None

    pids = wait_for(read, timeout=60)
    return [pids["script"], *pids["workers"], pids["setsid"]]


def _assert_all_gone(pids: list[int]) -> None:
    wait_for(lambda: not any(alive(p) for p in pids), timeout=60, what="the run's processes to end")


@pytest.mark.slow
def test_time_box_leaves_no_survivor(bp: Bp) -> None:
    bp.script("tree.py", TREE)
    proc = bp.start("run", "-m", "0.05", "--grace", "1", "tree.py")
    pids = _pids(bp)  # the whole tree was running when they were written
    assert proc.wait(60) == 0
    _assert_all_gone(pids)
    assert bp.only_run().status == RunStatus.TIMEBOXED


def test_ctrl_c_leaves_no_survivor(bp: Bp) -> None:
    bp.script("tree.py", TREE)
    proc = bp.start("run", "--grace", "1", "tree.py")
    pids = _pids(bp)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 130
    _assert_all_gone(pids)
    run = bp.only_run()
    assert run.status == RunStatus.INTERRUPTED
    assert "Ctrl-C" in (run.reason or "")


@pytest.mark.slow
def test_second_ctrl_c_stops_at_once(bp: Bp) -> None:
    bp.script("tree.py", TREE)
    proc = bp.start("run", "--grace", "60", "tree.py")
    pids = _pids(bp)
    proc.send_signal(signal.SIGINT)
    # Two signals sent back to back may be handled as one: wait for the first to be taken.
    assert proc.stderr is not None
    for line in proc.stderr:
        if b"press Ctrl-C again to stop at once" in line:
            break
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 130  # far sooner than the 60 s grace
    _assert_all_gone(pids)


@pytest.mark.slow
@pytest.mark.parametrize("now", [False, True])
def test_backprop_stop_leaves_no_survivor(bp: Bp, now: bool) -> None:
    bp.script("tree.py", TREE)
    proc = bp.start("run", "--grace", "1", "tree.py")
    pids = _pids(bp)
    run_id = bp.only_run().id
    stop = bp.run("stop", run_id, *(["--now"] if now else []), timeout=60)
    assert stop.returncode == 0, stop.stderr
    assert proc.wait(60) == 130
    _assert_all_gone(pids)
    assert bp.only_run().status == RunStatus.INTERRUPTED


@pytest.mark.slow
def test_killed_supervisor_leaves_no_survivor_and_run_is_lost(bp: Bp) -> None:
    bp.script("tree.py", TREE)
    # A short threshold, so the heartbeat alone would tell in time if the pid check did not.
    quick = {
        "BACKPROP_LIVENESS__HEARTBEAT_SECONDS": "0.2",
        "BACKPROP_LIVENESS__LOST_AFTER_SECONDS": "2",
    }
    proc = bp.start("run", "tree.py", env=quick)
    pids = _pids(bp)
    proc.send_signal(signal.SIGKILL)
    killed_at = time.time()
    proc.wait(10)
    _assert_all_gone(pids)

    def lost() -> dict | None:  # what a plain `backprop list` says, nothing reconciled before
        listed = bp.run("list", "--json", env=quick)
        assert listed.returncode == 0, listed.stderr
        [run] = json.loads(listed.stdout)
        return run if run["status"] == RunStatus.LOST.value else None

    run = wait_for(lost, timeout=60, what="`backprop list` to mark the run lost")
    assert run["ended_at"] <= killed_at + 0.5  # its last heartbeat, not when list looked


ORPHANS = """
    import os, subprocess, sys
    sleep, token = sys.argv[1], sys.argv[2]
    ready = os.path.join(os.environ["BACKPROP_RUN_DIR"], "ready")
    n = 0
    while True:
        # sh starts a subshell that starts `sleep` in the background and leaves at once: each
        # sleeper is orphaned a moment after its birth, with an empty environment.
        subprocess.Popen(
            ["/bin/sh", "-c", f"({sleep} {token} &) ; exit 0"], env={},
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        n += 1
        if n == 20:
            open(ready, "w").close()
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
"""


def _sleepers(token: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if len(cmdline) == 2 and cmdline[1] == token:
            found.append(proc)
    return found


def _cgroups_offered() -> bool:
    cgroup = RunCgroup.create(f"backprop-test-{os.getpid()}")
    if cgroup is None:
        return False
    cgroup.remove()
    return True


@pytest.mark.skipif(
    not _cgroups_offered(),
    reason="needs a writable cgroup v2 with cgroup.kill (root); elsewhere the guardian polls, "
    "and a descendant that clears its environment and forks twice between polls can escape",
)
def test_killed_supervisor_leaves_no_orphan_that_cleared_its_environment(bp: Bp) -> None:
    token = f"3000.{os.getpid()}{time.monotonic_ns() % 10**6:06d}"  # sleep's own argument
    bp.script("orphans.py", ORPHANS)
    proc = bp.start("run", "orphans.py", shutil.which("sleep") or "/bin/sleep", token)
    try:
        run = wait_for(lambda: next(iter(bp.runs()), None))
        wait_for((bp.home / "runs" / run.id / "ready").exists, timeout=60)
        wait_for(lambda: len(_sleepers(token)) >= 10, timeout=60, what="orphaned sleepers")
        family = psutil.Process(proc.pid).children(recursive=True)  # the guardian among them
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        wait_for(lambda: not any(alive(p.pid) for p in family), timeout=30, what="cleanup")
        survivors = _sleepers(token)
        assert survivors == [], f"{len(survivors)} orphans survived the supervisor"
    finally:
        for leftover in _sleepers(token):
            leftover.kill()
