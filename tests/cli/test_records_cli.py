"""`backprop list/show/logs/rm/gc/import` against real stores, in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import psutil
import pytest

from backprop_core.events.event import Event
from backprop_core.plugin.manager import get_plugins
from backprop_core.settings.schemas import load_schema
from backprop_core.store.contract import Store
from backprop_core.store.home import make_run_folder
from backprop_core.store.records import PauseRecord, RunRecord, RunStatus, SessionRecord
from tests.conftest import run_cli

T0 = 1_790_000_000.0


@pytest.fixture(params=["sqlite", "json"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("BACKPROP_STORE", request.param)
    cls = get_plugins().store_class(request.param)
    s = cls(Path(os.environ["BACKPROP_HOME"]))
    s.home.ensure()
    yield s
    s.close()


def add_run(store: Store, run_id: str, created: float, **fields: object) -> RunRecord:
    fields.setdefault("status", RunStatus.COMPLETED)
    run = RunRecord(id=run_id, created_at=created, started_at=created, **fields)  # type: ignore[arg-type]
    return store.create_run(run)


def cli_json(*args: str) -> object:
    result = run_cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_list_filters_and_orders_newest_first(store: Store) -> None:
    add_run(store, "20260101-000000-aaaa", T0, name="resnet-a", tags={"lr": "0.1"})
    add_run(store, "20260101-000100-bbbb", T0 + 60, name="resnet-b", status=RunStatus.FAILED)
    add_run(
        store, "20260101-000200-cccc", T0 + 120, name="vit", tags={"lr": "0.01"}, script="train.py"
    )
    store.append_events("20260101-000200-cccc", [Event("metrics", T0, 42, {"data": {"loss": 0.5}})])

    runs = cli_json("list")
    assert [r["id"] for r in runs] == [  # type: ignore[index]
        "20260101-000200-cccc",
        "20260101-000100-bbbb",
        "20260101-000000-aaaa",
    ]
    assert [r["id"] for r in cli_json("list", "--status", "failed")] == ["20260101-000100-bbbb"]  # type: ignore[union-attr]
    assert len(cli_json("list", "--name", "resnet-*")) == 2  # type: ignore[arg-type]
    assert [r["name"] for r in cli_json("list", "--tag", "lr=0.01")] == ["vit"]  # type: ignore[union-attr]
    assert len(cli_json("list", "--limit", "1")) == 1  # type: ignore[arg-type]

    plain = run_cli("list")
    first = plain.stdout.splitlines()[0].split("\t")
    assert first[:4] == ["20260101-000200-cccc", "vit", "train.py", "completed"]
    assert first[6:8] == ["42", "loss=0.5"]
    bad = run_cli("list", "--tag", "nonsense")
    assert bad.returncode == 2 and "KEY=VALUE" in bad.stderr


def test_show_json_validates_against_the_schema(store: Store, tmp_path: Path) -> None:
    add_run(
        store,
        "20260101-000000-abcd",
        T0,
        name="baseline",
        script="train.py",
        argv=["--lr", "0.1"],
        cwd=str(tmp_path),
        settings={"maxRunMinutes": 10},
        environment={
            "python": {"version": "3.11.7", "implementation": "CPython", "executable": "/py"},
            "hostname": "trainbox",
            "user": "ada",
            "git": {"commit": "0123456789abcdef", "branch": "main", "dirty": True},
            "packages": {"numpy": "2.0.0", "torch": "2.3.0", "zzz": "1"},
        },
    )
    store.add_session(
        SessionRecord(
            "20260101-000000-abcd",
            1,
            RunStatus.TIMEBOXED,
            T0,
            ended_at=T0 + 600,
            pid=123,
            pauses=[PauseRecord("GPU 0 at 86°C", T0 + 10, T0 + 20)],
            active_seconds=590,
        )
    )
    (tmp_path / "kept.pt").write_bytes(b"x")
    store.append_events(
        "20260101-000000-abcd",
        [
            Event("checkpoint_saved", T0 + 1, 10, {"path": "gone.pt"}),
            Event("checkpoint_saved", T0 + 2, 20, {"path": "kept.pt", "best": True}),
            Event("metrics", T0 + 3, 20, {"data": {"loss": float("nan"), "acc": 0.75}}),
            Event("summary", T0 + 4, None, {"data": {"best": 0.75, "config": {"lr": 0.1}}}),
            Event("alert", T0 + 5, 20, {"level": "warning", "text": "loss is NaN"}, 1),
        ],
    )
    view = cli_json("show", "20260101-000000-ab")
    jsonschema.validate(view, load_schema("run-record.v1.schema.json"))
    assert isinstance(view, dict)
    assert view["last_metrics"] == {"loss": "NaN", "acc": 0.75}
    assert [c["exists"] for c in view["checkpoints"]] == [False, True]
    assert view["sessions"][0]["pauses"][0]["reason"] == "GPU 0 at 86°C"
    assert view["alerts"] == [
        {"time": T0 + 5, "session": 1, "step": 20, "level": "warning", "text": "loss is NaN"}
    ]

    text = run_cli("show", "baseline")
    assert text.returncode == 0, text.stderr
    assert "gone.pt (missing)" in text.stdout
    assert "kept.pt (best)" in text.stdout
    assert "paused" in text.stdout and "GPU 0 at 86°C" in text.stdout
    assert "loss=NaN" in text.stdout
    # alerts outlive the terminal they were printed on
    assert "\nalerts\n" in text.stdout and "warning  session 1, step 20: loss is NaN" in text.stdout
    # the environment in words, not JSON; every package only with --json
    assert "  python    CPython 3.11.7, /py" in text.stdout
    assert "  git       main at 0123456789ab, with uncommitted changes" in text.stdout
    assert (
        "  packages  3 installed: torch 2.3.0, numpy 2.0.0; all of them with --json" in text.stdout
    )
    assert '{"' not in text.stdout.split("\nenvironment\n", 1)[1]
    assert "  config.lr: 0.1" in text.stdout


def test_ambiguous_and_unknown_references(store: Store) -> None:
    add_run(store, "20260101-000000-aaaa", T0)
    add_run(store, "20260101-000000-aabb", T0 + 1)
    result = run_cli("show", "20260101-000000-aa")
    assert result.returncode == 2
    assert "20260101-000000-aaaa" in result.stderr and "20260101-000000-aabb" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_cli("show", "nothing-like-this")
    assert missing.returncode == 2 and "no run matches" in missing.stderr


def test_reading_marks_runs_with_a_dead_supervisor_lost(store: Store) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    me = psutil.Process()
    for run_id, pid, started in (
        ("20260101-000000-dead", dead.pid, time.time() - 5),
        ("20260101-000000-live", me.pid, me.create_time()),
        ("20260101-000000-reus", me.pid, me.create_time() - 3600),  # pid reused by someone else
    ):
        add_run(store, run_id, T0, status=RunStatus.RUNNING)
        store.add_session(
            SessionRecord(
                run_id, 1, RunStatus.RUNNING, T0, supervisor_pid=pid, supervisor_started=started
            )
        )
    statuses = {r["id"]: r["status"] for r in cli_json("list")}  # type: ignore[union-attr]
    assert statuses == {
        "20260101-000000-dead": "lost",
        "20260101-000000-live": "running",
        "20260101-000000-reus": "lost",
    }
    assert store.sessions("20260101-000000-dead")[0].status is RunStatus.LOST
    assert store.get_run("20260101-000000-dead").ended_at is not None


def test_logs_prints_sessions_and_follows_until_the_run_ends(store: Store) -> None:
    add_run(store, "20260101-000000-logs", T0, status=RunStatus.RUNNING)
    me = psutil.Process()
    for n in (1, 2):
        store.add_session(
            SessionRecord(
                "20260101-000000-logs",
                n,
                RunStatus.RUNNING,
                T0,
                supervisor_pid=me.pid,
                supervisor_started=me.create_time(),
            )
        )
    store.home.run_dir("20260101-000000-logs").mkdir(parents=True)
    store.home.session_log("20260101-000000-logs", 1).write_text("first session\n")
    log2 = store.home.session_log("20260101-000000-logs", 2)
    log2.write_text("second session\n")
    all_logs = run_cli("logs", "20260101-000000-logs")
    assert all_logs.stdout.splitlines() == ["first session", "second session"]
    assert run_cli("logs", "20260101-000000-logs", "--session", "2").stdout == "second session\n"
    assert run_cli("logs", "20260101-000000-logs", "--session", "9").returncode == 2

    follower = subprocess.Popen(
        [sys.executable, "-m", "backprop_core.cli", "logs", "-f", "20260101-000000-logs"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert follower.stdout is not None
    assert follower.stdout.readline() == "first session\n"
    assert follower.stdout.readline() == "second session\n"
    with open(log2, "a") as fh:
        fh.write("step 100\n")
    assert follower.stdout.readline() == "step 100\n"
    with open(log2, "a") as fh:
        fh.write("bye\n")
    store.update_run("20260101-000000-logs", status=RunStatus.COMPLETED)
    rest, _ = follower.communicate(timeout=30)
    assert rest == "bye\n" and follower.returncode == 0


def test_rm_refuses_active_runs_and_removes_finished_ones(store: Store) -> None:
    me = psutil.Process()
    add_run(store, "20260101-000000-actv", T0, status=RunStatus.RUNNING)
    store.add_session(
        SessionRecord(
            "20260101-000000-actv",
            1,
            RunStatus.RUNNING,
            T0,
            supervisor_pid=me.pid,
            supervisor_started=me.create_time(),
        )
    )
    refused = run_cli("rm", "--yes", "20260101-000000-actv")
    assert refused.returncode == 2 and "stop it first" in refused.stderr

    for run_id in ("20260101-000000-gone", "20260101-000000-keep"):
        add_run(store, run_id, T0)
        (store.home.checkpoint_dir(run_id)).mkdir(parents=True)
        (store.home.checkpoint_dir(run_id) / "c.pt").write_bytes(b"x")
        store.home.session_log(run_id, 1).write_text("log\n")
    assert run_cli("rm", "20260101-000000-gone").returncode == 2  # no --yes, no terminal
    assert store.home.run_dir("20260101-000000-gone").exists()

    assert run_cli("rm", "--yes", "20260101-000000-gone").returncode == 0
    assert not store.home.run_dir("20260101-000000-gone").exists()
    result = run_cli("rm", "--yes", "--keep-checkpoints", "20260101-000000-keep")
    assert result.returncode == 0, result.stderr
    assert (store.home.checkpoint_dir("20260101-000000-keep") / "c.pt").exists()
    assert not store.home.session_log("20260101-000000-keep", 1).exists()
    assert [r["id"] for r in cli_json("list")] == ["20260101-000000-actv"]  # type: ignore[union-attr]


def test_gc_prunes_old_checkpoints_and_orphans_only(store: Store, tmp_path: Path) -> None:
    run_id = "20260101-000000-gcgc"
    add_run(store, run_id, T0, cwd=str(tmp_path))
    folder = store.home.checkpoint_dir(run_id)
    folder.mkdir(parents=True)
    events = []
    for i in range(4):
        path = folder / f"step{i}.pt"
        path.write_bytes(b"x" * 10)
        events.append(Event("checkpoint_saved", T0 + i, i, {"path": str(path), "best": i == 0}))
    outside = tmp_path / "not-announced.pt"
    outside.write_bytes(b"keep me")
    store.append_events(run_id, events)
    orphan = make_run_folder(store.home.runs_dir / "20250101-000000-orph")
    (orphan / "session-1.log").write_text("old\n")
    os.utime(orphan, (time.time() - 7200, time.time() - 7200))
    fresh_orphan = make_run_folder(store.home.runs_dir / "20250101-000000-new1")

    dry = cli_json("gc", "--keep-last", "1", "--dry-run")
    assert isinstance(dry, dict)
    deleted = [i for i in dry["items"] if i["action"] == "delete"]
    assert sorted(Path(i["path"]).name for i in deleted) == [
        "20250101-000000-orph",
        "step1.pt",
        "step2.pt",
    ]
    assert {i["what"] for i in deleted if i["path"] == str(orphan)} == {"run folder"}
    assert (folder / "step1.pt").exists() and orphan.exists()

    done = cli_json("gc", "--keep-last", "1")
    assert isinstance(done, dict) and done["bytes"] > 0
    assert sorted(p.name for p in folder.iterdir()) == ["step0.pt", "step3.pt"]
    assert [Path(c.path).name for c in store.checkpoints(run_id)] == ["step0.pt", "step3.pt"]
    assert not orphan.exists() and fresh_orphan.exists() and outside.exists()


NODE_FILE = {
    "exp_1731000000000": {
        "id": "exp_1731000000000",
        "scriptPath": "/home/ana/proj/train.py",
        "status": "completed",
        "startTime": "2024-11-07T17:20:00.000Z",
        "endTime": "2024-11-07T17:30:00.000Z",
        "name": "baseline",
        "checkpoints": [
            {"path": "/home/ana/proj/ckpt/epoch1.pt", "step": 100, "timestamp": 1731000300000},
            "/home/ana/proj/ckpt/epoch2.pt",
        ],
        "lastStep": 200,
        "lastLoss": 0.4321,
        "lastCheckpoint": "/home/ana/proj/ckpt/epoch2.pt",
    },
    "f3b1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d": {
        "id": "f3b1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        "scriptPath": "train.py",
        "status": "timeout",
        "startTime": 1731003600000,
        "endTime": 1731004200000,
        "name": None,
        "checkpoints": [],
        "lastStep": None,
        "lastLoss": None,
        "lastCheckpoint": None,
    },
    "exp running/odd id": {
        "id": "exp running/odd id",
        "scriptPath": "train.py",
        "status": "running",
        "startTime": 1731007200000,
        "endTime": None,
        "name": "crashed-node",
        "checkpoints": [],
        "lastStep": 5,
        "lastLoss": "NaN",
        "lastCheckpoint": None,
    },
}


def test_import_node_tool_file_twice_does_not_duplicate(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "experiments.json"
    path.write_text(json.dumps(NODE_FILE, indent=2))
    first = cli_json("import", str(path))
    assert isinstance(first, dict) and len(first["imported"]) == 3
    second = cli_json("import", str(path))
    assert isinstance(second, dict) and second["imported"] == [] and len(second["skipped"]) == 3
    runs = {r["name"] or r["id"]: r for r in cli_json("list")}  # type: ignore[union-attr]
    assert len(runs) == 3
    base = runs["baseline"]
    assert base["status"] == "completed" and base["script"] == "/home/ana/proj/train.py"
    assert base["started_at"] == pytest.approx(1731000000.0)
    assert base["last_step"] == 200 and base["last_metrics"] == {"loss": 0.4321}
    assert base["checkpoint_count"] == 2
    assert runs["f3b1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d"]["status"] == "timeboxed"
    assert runs["crashed-node"]["status"] == "lost"
    assert runs["crashed-node"]["last_metrics"] == {"loss": "NaN"}
    shown = cli_json("show", "baseline")
    assert isinstance(shown, dict)
    assert [c["step"] for c in shown["checkpoints"]] == [100, None]
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    result = run_cli("import", str(bad))
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_export_csv_and_json(store: Store, tmp_path: Path) -> None:
    add_run(store, "20260101-000000-expo", T0, name="exported")
    store.append_events(
        "20260101-000000-expo",
        [
            Event("metrics", T0 + 1, 1, {"data": {"loss": 1.5, "acc": 0.5}}),
            Event("metrics", T0 + 2, 2, {"data": {"loss": float("inf")}}),
        ],
    )
    result = run_cli("export", "exported", "--format", "csv")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "run_id,run_name,key,step,time,value,session"
    assert "20260101-000000-expo,exported,loss,2,1790000002.0,Infinity," in lines
    assert len(lines) == 4

    target = tmp_path / "out.json"
    result = run_cli("export", "20260101-000000-ex", "--format", "json", "-o", str(target))
    assert result.returncode == 0, result.stderr
    (exported,) = json.loads(target.read_text())
    assert exported["metrics"]["loss"]["values"] == [1.5, "Infinity"]
    assert exported["id"] == "20260101-000000-expo"
    bad = run_cli("export", "exported", "--format", "parquet")
    assert bad.returncode == 2 and "csv" in bad.stderr
