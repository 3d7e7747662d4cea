"""``backprop pull HOST``: the other machine's runs copied into this store, incrementally,
idempotently, safely interrupted and resumed, never changing the other machine."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from backprop_core.events.event import Event
from backprop_core.plugin.manager import reset_plugins
from backprop_core.settings.model import Settings
from backprop_core.store.contract import Store
from backprop_core.store.opening import open_store
from backprop_core.store.records import (
    LOCAL_ORIGIN,
    RunFilter,
    RunRecord,
    RunStatus,
    run_to_dict,
    session_to_dict,
)
from tests.conftest import wait_for

from .conftest import Remote

pytestmark = pytest.mark.slow


def local_store(store: str = "sqlite") -> Store:
    reset_plugins()
    home = Path(os.environ["BACKPROP_HOME"])
    return open_store(Settings.from_config({"store": store}, home=home))


def pull(remote: Remote, *args: str, **extra: str) -> dict[str, Any]:
    result = remote.cli("pull", remote.host, "--json", *args, timeout=300, **extra)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return report


def contents(store: Store, run_id: str) -> dict[str, Any]:
    """Everything recorded for a run, but where its copy lives (origin, checkpoint paths)."""
    run = run_to_dict(store.get_run(run_id))
    run.pop("origin")
    events = []
    for e in store.events(run_id):
        payload = {k: v for k, v in e.event.payload.items() if k not in ("path", "origin_path")}
        events.append((e.seq, e.event.kind, e.event.time, e.event.step, e.event.session, payload))
    return {
        "run": run,
        "sessions": [session_to_dict(s) for s in store.sessions(run_id)],
        "events": events,
        "series": {k: store.metric_series(run_id, k) for k in store.metric_keys(run_id)},
        "checkpoints": [(c.step, c.time, c.session, c.metrics) for c in store.checkpoints(run_id)],
        "logs": {p.name: p.read_bytes() for p in sorted(store.home.run_dir(run_id).glob("*.log"))},
    }


def assert_same_as_there(remote: Remote, store: str = "sqlite") -> list[str]:
    with remote.store() as there, local_store(store) as here:
        ids = [r.id for r in there.list_runs()]
        assert sorted(r.id for r in here.list_runs(RunFilter(origin=remote.host))) == sorted(ids)
        for run_id in ids:
            # repr: NaN equals itself there
            assert repr(contents(here, run_id)) == repr(contents(there, run_id)), run_id
    return ids


def real_run(remote: Remote, name: str, *, outside: bool = False) -> str:
    remote.script(
        "train.py",
        """
        import json, os, sys
        ck = os.environ["BACKPROP_CHECKPOINT_DIR"]
        os.makedirs(ck, exist_ok=True)
        print(json.dumps({"event": "init", "name": sys.argv[1], "tags": {"team": "vision"}}))
        for i in range(30):
            print(json.dumps({"event": "metrics", "step": i, "data": {"loss": 1 / (i + 1)}}))
            print("epoch", i, "héllo")
        with open(os.path.join(ck, "last.pt"), "wb") as fh:
            fh.write(os.urandom(300_000))
        print(json.dumps({"event": "checkpoint_saved", "path": os.path.join(ck, "last.pt"),
                          "step": 29}))
        if sys.argv[2] == "outside":
            with open("outside.ckpt", "wb") as fh:
                fh.write(b"outside" * 1000)
            os.makedirs("hf", exist_ok=True)
            for part in ("config.json", "model.bin"):
                with open(os.path.join("hf", part), "wb") as fh:
                    fh.write(part.encode() * 500)
            print(json.dumps({"event": "checkpoint_saved", "path": "outside.ckpt", "step": 29}))
            print(json.dumps({"event": "checkpoint_saved", "path": "hf", "step": 29}))
        print(json.dumps({"event": "summary", "data": {"best": 0.03}}))
        """,
    )
    done = remote.there("run", "--name", name, "train.py", name, "outside" if outside else "-")
    assert done.returncode == 0, done.stderr
    runs = json.loads(remote.there("list", "--json", "--name", name).stdout)
    return str(runs[0]["id"])


def test_pull_copies_every_record_and_a_second_pull_copies_nothing(remote: Remote) -> None:
    remote.seed("baseline", n=1, steps=50, log="epoch 1\nepoch 2\n")
    odd = remote.seed("odd values", n=2, steps=0)
    with remote.store() as store:
        store.append_events(
            odd,
            [
                Event("metrics", 1.0, 0, {"data": {"loss": math.nan}}),
                Event("metrics", 2.0, 1, {"data": {"loss": math.inf, "acc": -math.inf}}),
                Event("note", 3.0, None, {"text": "a kind backprop does not know"}),
            ],
        )
    real = real_run(remote, "real")
    first = pull(remote)
    assert sorted(first["new"]) == sorted(assert_same_as_there(remote))
    assert first["events"] > 80 and first["log_bytes"] > 300
    second = pull(remote)
    assert (second["new"], second["updated"], second["events"], second["log_bytes"]) == (
        [],
        [],
        0,
        0,
    )
    assert second["unchanged"] == 3
    listed = remote.cli("list").stdout.splitlines()
    assert all(line.endswith(f"\t{remote.host}") for line in listed) and len(listed) == 3
    shown = remote.cli("show", "real").stdout
    assert f"pulled from  {remote.host}" in shown
    assert f"(on {remote.host}; `backprop pull {remote.host} --with-checkpoints`" in shown
    assert real in shown
    resumed = remote.cli("resume", "real")
    assert resumed.returncode == 2
    assert f"run {real} was pulled from {remote.host}" in resumed.stderr


def test_json_stores_on_both_sides(remote: Remote) -> None:
    remote.env["BACKPROP_STORE"] = "json"
    remote.seed("baseline", n=1, steps=40, log="hello\n")
    real_run(remote, "real")
    report = pull(remote, "--store", "json")
    assert len(report["new"]) == 2
    assert_same_as_there(remote, "json")
    assert pull(remote, "--store", "json")["unchanged"] == 2


def test_a_pull_killed_midway_and_run_again_ends_complete(remote: Remote) -> None:
    big = remote.seed("big", n=0, steps=0)
    with remote.store() as store:
        for start in range(0, 60_000, 10_000):
            store.append_events(
                big,
                [
                    Event("metrics", float(s), s, {"data": {"loss": 1 / (s + 1), "acc": 0.5}})
                    for s in range(start, start + 10_000)
                ],
            )
    for n in range(1, 20):
        remote.seed(f"small-{n}", n=n, log=f"log of {n}\n" * 2000)
    proc = remote.start("pull", remote.host)
    with local_store() as here:
        # Cut off in the middle of the big run's events (they come in batches).
        wait_for(lambda: here.last_event_seq(big) > 0, 120, "the pull to be under way")
    assert proc.poll() is None, "the pull ended before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with local_store() as here:
        before = sum(here.last_event_seq(r.id) for r in here.list_runs())
    report = pull(remote)
    assert report["events"] == 60_000 + 19 * 20 - before  # each event came once
    assert_same_as_there(remote)
    assert pull(remote)["unchanged"] == 20


def test_an_active_run_is_pulled_as_it_is_and_updated_by_the_next_pull(
    remote: Remote, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    remote.script(
        "waiting.py",
        f"""
        import json, os, time
        print(json.dumps({{"event": "metrics", "step": 0, "data": {{"loss": 1.0}}}}), flush=True)
        while not os.path.exists({str(go)!r}):
            time.sleep(0.05)
        print(json.dumps({{"event": "metrics", "step": 1, "data": {{"loss": 0.5}}}}), flush=True)
        print("finished", flush=True)
        """,
    )
    run = remote.start_there("run", "--name", "waiting", "waiting.py")
    with remote.store() as store:
        wait_for(lambda: store.list_runs() and store.list_runs()[0].last_step == 0, 60, "step 0")
    pull(remote)
    assert remote.cli("list", "--json").returncode == 0  # liveness here leaves it alone
    with local_store() as here:
        (pulled,) = here.list_runs()
        assert pulled.status == RunStatus.RUNNING and pulled.last_step == 0
    go.write_text("")
    assert run.wait(timeout=120) == 0
    report = pull(remote)
    assert report["updated"] == [pulled.id]
    with local_store() as here:
        now = here.get_run(pulled.id)
        assert now.status == RunStatus.COMPLETED and now.last_step == 1
    assert remote.cli("logs", "waiting").stdout.endswith("finished\n")
    assert_same_as_there(remote)


@pytest.mark.parametrize("how", ["rsync", "ssh"])
def test_with_checkpoints_the_files_come_too(remote: Remote, tmp_path: Path, how: str) -> None:
    import shutil

    extra: dict[str, str] = {}
    if how == "ssh":  # no rsync here: the files come through the ssh connection itself
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "ssh").symlink_to(shutil.which("ssh") or "ssh")
        extra["PATH"] = str(bin_dir)
    elif shutil.which("rsync") is None:
        pytest.skip("needs rsync (Debian: apt-get install rsync)")
    run_id = real_run(remote, "with files", outside=True)
    report = pull(remote, "--with-checkpoints", **extra)
    assert report["files"] == 3
    here_dir = Path(os.environ["BACKPROP_HOME"]) / "runs" / run_id
    there_dir = remote.home / "runs" / run_id
    outside = here_dir / "remote-files" / str(remote.work).lstrip("/")
    pairs = [
        (here_dir / "checkpoints" / "last.pt", there_dir / "checkpoints" / "last.pt"),
        (outside / "outside.ckpt", remote.work / "outside.ckpt"),
        (outside / "hf" / "model.bin", remote.work / "hf" / "model.bin"),
    ]
    for copy, original in pairs:
        assert copy.read_bytes() == original.read_bytes(), copy
    with local_store() as here:
        assert {c.path for c in here.checkpoints(run_id)} == {
            str(here_dir / "checkpoints" / "last.pt"),
            str(outside / "outside.ckpt"),
            str(outside / "hf"),
        }
    assert "(on " not in remote.cli("show", run_id).stdout
    again = pull(remote, "--with-checkpoints", **extra)
    assert (again["files"], again["file_bytes"], again["unchanged"]) == (0, 0, 1)


def test_a_log_that_grew_or_was_replaced_there_is_brought_up_to_date_here(
    remote: Remote,
) -> None:
    grows = remote.seed("grows", n=1, log="line 1\n")
    replaced = remote.seed("replaced", n=2, log="a long first log\n" * 100)
    remote.seed("same", n=3, log="unchanged\n")
    pull(remote)
    with open(remote.home / "runs" / grows / "session-1.log", "a") as fh:
        fh.write("line 2\n")
    (remote.home / "runs" / replaced / "session-1.log").write_text("short\n")
    report = pull(remote)
    assert sorted(report["updated"]) == sorted([grows, replaced])
    assert report["log_bytes"] == len("line 2\n") + len("short\n")  # only what changed
    assert_same_as_there(remote)
    assert pull(remote)["unchanged"] == 3


def test_a_log_that_lost_bytes_here_is_filled_in_by_the_next_pull(remote: Remote) -> None:
    cut = remote.seed("cut", n=1, log="".join(f"line {i}\n" for i in range(200)))
    gone = remote.seed("gone", n=2, log="all of it\n")
    remote.seed("same", n=3, log="unchanged\n")
    pull(remote)
    here = Path(os.environ["BACKPROP_HOME"]) / "runs"
    with open(here / cut / "session-1.log", "r+b") as fh:
        fh.truncate(100)
    (here / gone / "session-1.log").unlink()
    report = pull(remote)  # nothing changed there
    assert sorted(report["updated"]) == sorted([cut, gone]) and report["unchanged"] == 1
    total = len("".join(f"line {i}\n" for i in range(200)))
    assert report["log_bytes"] == total - 100 + len("all of it\n")  # only what was missing
    assert_same_as_there(remote)
    assert pull(remote)["unchanged"] == 3


def test_a_damaged_pull_state_costs_time_not_correctness(remote: Remote) -> None:
    ids = [remote.seed(f"run {n}", n=n, log=f"log {n}\n") for n in (1, 2, 3, 4)]
    pull(remote)
    (state,) = (Path(os.environ["BACKPROP_HOME"]) / "pulls").glob("*.json")
    data = json.loads(state.read_text())
    data["runs"][ids[0]]["logs"] = 7  # wrong shapes, as a hand edit might leave them
    data["runs"][ids[1]]["seq"] = "many"
    data["runs"][ids[2]] = ["not", "an", "entry"]
    state.write_text(json.dumps(data))
    report = pull(remote)
    assert sorted(report["updated"]) == sorted(ids[:3]) and report["unchanged"] == 1
    assert (report["events"], report["log_bytes"]) == (0, 0)  # what is here was kept
    assert_same_as_there(remote)
    assert pull(remote)["unchanged"] == 4


def test_a_log_that_cannot_be_written_here_fails_the_pull_in_one_line_and_loses_nothing(
    remote: Remote,
) -> None:
    blocked = remote.seed("blocked", n=1, log="hello\n")
    remote.seed("fine", n=2, log="ok\n")
    folder = Path(os.environ["BACKPROP_HOME"]) / "runs" / blocked
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("a file where the run's folder goes")
    failed = remote.cli("pull", remote.host)
    assert failed.returncode != 0
    message = failed.stderr.strip().splitlines()
    assert len(message) == 1 and message[0].startswith("backprop: error: cannot write a pulled")
    assert str(folder) in message[0] and "Not a directory" in message[0]
    folder.unlink()
    pull(remote)
    assert_same_as_there(remote)


def test_checkpoints_the_other_machine_forgot_are_forgotten_here_too(remote: Remote) -> None:
    run_id = remote.seed("with checkpoints", n=1)
    folder = remote.home / "runs" / run_id / "checkpoints"
    with remote.store() as store:
        store.append_events(
            run_id,
            [
                Event("checkpoint_saved", 1.0, step, {"path": str(folder / f"step-{step}.pt")})
                for step in (10, 20, 30)
            ],
        )
        store.delete_checkpoints(run_id, [str(folder / "step-10.pt")])  # as `gc` does there
    pull(remote)
    assert_same_as_there(remote)
    with local_store() as here:
        names = [Path(c.path).name for c in here.checkpoints(run_id)]
    assert names == ["step-20.pt", "step-30.pt"]
    with remote.store() as store:
        store.delete_checkpoints(run_id, [str(folder / "step-20.pt")])
        store.update_run(run_id, name="checkpoints forgotten")  # a change to pull
    pull(remote)
    with local_store() as here:
        assert [Path(c.path).name for c in here.checkpoints(run_id)] == ["step-30.pt"]


def test_pull_never_changes_the_other_machine(remote: Remote) -> None:
    remote.seed("baseline", n=1, log="hello\n")
    real_run(remote, "real")

    def fingerprint() -> dict[str, str]:
        return {
            str(p.relative_to(remote.home)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(remote.home.rglob("*"))
            if p.is_file()
        }

    before = fingerprint()
    pull(remote, "--with-checkpoints")
    pull(remote)
    assert fingerprint() == before


def test_a_run_with_the_id_of_a_run_made_here_is_left_alone(remote: Remote) -> None:
    clash = remote.seed("theirs", n=1)
    remote.seed("other", n=2)
    with local_store() as here:
        here.create_run(
            RunRecord(id=clash, status=RunStatus.COMPLETED, created_at=1.0, name="ours")
        )
    result = remote.cli("pull", remote.host)
    assert result.returncode == 0, result.stderr
    assert f"run {clash} on {remote.host} has the id of a run here" in result.stderr
    with local_store() as here:
        assert here.get_run(clash).name == "ours" and here.get_run(clash).origin is None
        assert [r.name for r in here.list_runs(RunFilter(origin=remote.host))] == ["other"]


def test_pull_watch_brings_new_runs_until_ctrl_c(remote: Remote) -> None:
    remote.seed("first", n=1)
    proc = remote.start("pull", remote.host, "--watch", "1", "--json")
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline())["new"] != []
    late = remote.seed("late", n=2)
    while True:
        report = json.loads(proc.stdout.readline())
        if report["new"]:
            assert report["new"] == [late]
            break
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0


def test_pulled_runs_are_filtered_by_host_here_and_in_the_viewer(remote: Remote) -> None:
    from backprop_core.viewer import create_app

    remote.seed("theirs", n=1)
    pull(remote)
    with local_store() as here:
        here.create_run(RunRecord(id="local-1", status=RunStatus.COMPLETED, created_at=9e9))
        assert [r.id for r in here.list_runs(RunFilter(origin=LOCAL_ORIGIN))] == ["local-1"]
    mine = remote.cli("list", "--host", "local").stdout.splitlines()
    assert len(mine) == 1 and mine[0].startswith("local-1\t")
    theirs = remote.cli("list", "--host", remote.host).stdout.splitlines()
    assert len(theirs) == 1 and theirs[0].endswith(f"\t{remote.host}")
    settings = Settings.from_config({"gpu": {"probe": "none"}}, Path(os.environ["BACKPROP_HOME"]))
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        body = client.get("/api/runs", params={"host": remote.host}).json()
        assert [(r["name"], r["origin"]) for r in body["runs"]] == [("theirs", remote.host)]
        assert [r["id"] for r in client.get("/api/runs?host=local").json()["runs"]] == ["local-1"]
        page = client.get("/").text
        assert f'<td class="host">{remote.host}</td>' in page
        assert '<td class="host">local</td>' in page


def test_pulls_from_two_machines_make_one_table(remote: Remote, tmp_path: Path) -> None:
    from .conftest import Remote as Machine

    other = Machine(remote.sshd, tmp_path / "second")
    other_host = f"{remote.sshd.user}@localhost"  # the same sshd, as another machine
    remote.seed("from the first", n=1)
    other.seed("from the second", n=2)
    assert remote.cli("pull", remote.host).returncode == 0
    second = remote.cli("pull", other_host, BACKPROP_REMOTE__COMMAND=other.command)
    assert second.returncode == 0, second.stderr
    rows = [line.split("\t") for line in remote.cli("list").stdout.splitlines()]
    assert sorted((r[1], r[-1]) for r in rows) == [
        ("from the first", remote.host),
        ("from the second", other_host),
    ]


def test_pull_needs_a_host(remote: Remote) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backprop_core.cli", "pull"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "backprop: error: pull needs a HOST; e.g. `backprop pull gpu-box`"
    )
