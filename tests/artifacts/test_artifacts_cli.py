"""``backprop artifacts`` with both stores, real files and the real command in a subprocess."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from backprop_core.artifacts.records import ArtifactUse
from backprop_core.events.event import Event
from backprop_core.store.contract import Store
from backprop_core.store.home import make_run_folder
from backprop_core.store.records import RunRecord, RunStatus

from .conftest import cli, cli_json, objects_in, one_line_error

pytestmark = pytest.mark.slow

T0 = 1_790_000_000.0


def weights(tmp_path: Path, name: str = "model.pt", text: str = "weights v1") -> Path:
    path = tmp_path / name
    path.write_text(text * 1000)
    return path


def test_add_list_show_and_get_round_trip(store: Store, tmp_path: Path) -> None:
    model = weights(tmp_path)
    data = tmp_path / "mnist"
    (data / "train").mkdir(parents=True)
    (data / "train" / "images.bin").write_bytes(b"\x01" * 5000)
    (data / "labels.csv").write_text("0,1\n")
    added = cli_json(
        "artifacts", "add", str(model), "--type", "model", "--metadata", '{"lr": 3e-4}'
    )
    assert (added["label"], added["kind"], added["size"], added["aliases"]) == (
        "model.pt:v0",
        "file",
        10_000,
        ["latest"],
    )
    cli("artifacts", "add", str(data), "--name", "mnist", "--type", "dataset")
    listed = cli_json("artifacts", "list")
    assert [v["label"] for v in listed] == ["mnist:v0", "model.pt:v0"]
    assert [v["label"] for v in cli_json("artifacts", "list", "--type", "dataset")] == ["mnist:v0"]
    table = cli("artifacts", "list").stdout.splitlines()
    assert table[0].split("\t")[:6] == ["mnist", "v0", "dataset", "latest", "5.0 kB", "2"]
    shown = cli_json("artifacts", "show", "mnist")
    assert sorted(f["path"] for f in shown["contents"]) == ["labels.csv", "train/images.bin"]
    assert cli_json("artifacts", "show", "model.pt:v0")["metadata"] == {"lr": 3e-4}
    text = cli("artifacts", "show", "mnist:latest").stdout
    assert "train/images.bin" in text and "folder, 5.0 kB, 2 file(s)" in text
    out = tmp_path / "out"
    got = cli("artifacts", "get", "mnist", "-o", str(out))
    assert (out / "train" / "images.bin").read_bytes() == b"\x01" * 5000
    assert "verified" in got.stderr
    cli("artifacts", "get", "model.pt", "-o", str(out))
    assert (out / "model.pt").read_text() == model.read_text()
    # nothing existing is ever overwritten
    refused = cli("artifacts", "get", "model.pt", "-o", str(out), code=2)
    assert "exists" in one_line_error(refused)


def test_aliases_move_and_latest_follows_the_newest(store: Store, tmp_path: Path) -> None:
    cli("artifacts", "add", str(weights(tmp_path)), "--name", "m", "--alias", "best")
    cli("artifacts", "add", str(weights(tmp_path, text="v2")), "--name", "m", "--alias", "best")
    cli("artifacts", "add", str(weights(tmp_path, text="v3")), "--name", "m")
    aliases = {v["label"]: v["aliases"] for v in cli_json("artifacts", "list")}
    assert aliases == {"m:v0": [], "m:v1": ["best"], "m:v2": ["latest"]}
    assert cli("artifacts", "alias", "m:v0", "production").stdout.strip() == (
        "m:production is now v0"
    )
    cli("artifacts", "alias", "m:best", "candidate")  # an alias names a version too
    aliases = {v["label"]: v["aliases"] for v in cli_json("artifacts", "list")}
    assert aliases == {"m:v0": ["production"], "m:v1": ["best", "candidate"], "m:v2": ["latest"]}
    assert cli_json("artifacts", "show", "m:best")["version"] == 1
    refused = cli("artifacts", "alias", "m:v0", "latest", code=2)
    assert "moved automatically" in one_line_error(refused)
    refused = cli("artifacts", "alias", "m:v0", "v7", code=2)
    assert "invalid alias" in one_line_error(refused)


def test_bad_references_say_what_exists(store: Store, tmp_path: Path) -> None:
    cli("artifacts", "add", str(weights(tmp_path)), "--name", "m")
    missing = cli("artifacts", "show", "m:v9", code=2)
    assert "m has no version v9; its newest versions are v0" in one_line_error(missing)
    assert "no artifact named 'nope'" in one_line_error(cli("artifacts", "show", "nope", code=2))
    bad = cli("artifacts", "add", str(tmp_path / "missing.bin"), code=2)
    assert "no file or folder at" in one_line_error(bad)
    bad = cli("artifacts", "add", str(weights(tmp_path)), "--name", "no spaces", code=2)
    assert "invalid artifact name" in one_line_error(bad)
    assert [v["label"] for v in cli_json("artifacts", "list")] == ["m:v0"]  # nothing lost


def test_rm_keeps_inputs_and_gc_then_deletes_the_unheld_content(
    store: Store, tmp_path: Path, home: Path
) -> None:
    cli("artifacts", "add", str(weights(tmp_path)), "--name", "m")
    cli("artifacts", "add", str(weights(tmp_path, text="other")), "--name", "m")
    store.create_run(RunRecord(id="r1", status=RunStatus.COMPLETED, created_at=T0))
    digest = cli_json("artifacts", "show", "m:v0")["digest"]
    store.record_artifact_use(ArtifactUse("r1", "m", 0, digest, "v0", T0))
    refused = cli("artifacts", "rm", "m:v0", code=2)
    assert "is an input of run(s) r1" in one_line_error(refused)
    assert "version number" in one_line_error(cli("artifacts", "rm", "m:latest", code=2))
    cli("artifacts", "rm", "m:v1")
    assert [v["label"] for v in cli_json("artifacts", "list")] == ["m:v0"]
    assert cli_json("artifacts", "show", "m")["aliases"] == ["latest"]
    assert len(objects_in(home)) == 2
    planned = cli_json("gc", "--dry-run")
    doomed = [i for i in planned["items"] if i["what"] == "artifact object"]
    assert [i["action"] for i in doomed] == ["delete"] and len(objects_in(home)) == 2
    done = cli_json("gc")
    assert [i["path"] for i in done["items"] if i["what"] == "artifact object"] == [
        doomed[0]["path"]
    ]
    assert [p.name for p in objects_in(home)] == [digest[9:]]
    cli("artifacts", "get", "m:v0", "-o", str(tmp_path / "out"))  # what is held survives


def test_gc_keeps_content_an_active_run_may_be_about_to_record(
    store: Store, tmp_path: Path, home: Path
) -> None:
    from backprop_core.artifacts.objects import ObjectStore
    from backprop_core.store.process_identity import process_start_time
    from backprop_core.store.records import SessionRecord

    store.create_run(RunRecord(id="live", status=RunStatus.RUNNING, created_at=time.time() - 5))
    me = os.getpid()
    store.add_session(
        SessionRecord(
            run_id="live",
            number=1,
            status=RunStatus.RUNNING,
            started_at=time.time(),
            supervisor_pid=me,
            supervisor_started=process_start_time(me),
        )
    )
    ObjectStore(home).put(weights(tmp_path))  # stored, not yet recorded
    (item,) = [i for i in cli_json("gc")["items"] if i["what"] == "artifact object"]
    assert item["action"] == "keep" and "active" in item["reason"]
    assert len(objects_in(home)) == 1


def test_promoting_a_checkpoint_of_an_ended_run_links_it(
    store: Store, tmp_path: Path, home: Path
) -> None:
    run = store.create_run(
        RunRecord(id="r1", status=RunStatus.COMPLETED, created_at=T0, name="train", cwd="/x")
    )
    folder = make_run_folder(store.home.run_dir(run.id)) / "checkpoints"
    folder.mkdir()
    paths = []
    for step in (10, 20):
        path = folder / f"step-{step}.pt"
        path.write_text(f"state at {step}" * 500)
        paths.append(path)
    store.append_events(
        run.id,
        [
            Event("checkpoint_saved", T0 + i, step, {"path": str(p), "metrics": {"loss": 1 / step}})
            for i, (step, p) in enumerate(zip((10, 20), paths))
        ],
    )
    added = cli_json("artifacts", "add", "--from-checkpoint", "train:10", "--name", "ckpt")
    assert (added["type"], added["run_id"], added["step"], added["stored"]) == (
        "checkpoint",
        "r1",
        10,
        "hardlink",
    )
    assert added["metadata"]["checkpoint"] == {"run": "r1", "step": 10, "path": str(paths[0])}
    assert added["metadata"]["metrics"] == {"loss": 0.1}
    (obj,) = objects_in(home)
    assert os.path.samefile(obj, paths[0])  # no second copy of the bytes
    newest = cli_json("artifacts", "add", "--from-checkpoint", "train", "--name", "ckpt")
    assert newest["step"] == 20
    missing = cli("artifacts", "add", "--from-checkpoint", "train:30", code=2)
    assert "no checkpoint at step 30" in one_line_error(missing)


def test_get_refuses_a_damaged_object_and_writes_nothing(
    store: Store, tmp_path: Path, home: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("1,2\n" * 100)
    (data / "b.csv").write_text("3,4\n" * 100)
    cli("artifacts", "add", str(data), "--name", "data")
    entry = next(
        f for f in cli_json("artifacts", "show", "data")["contents"] if f["path"] == "b.csv"
    )
    damaged = next(p for p in objects_in(home) if p.name == entry["digest"][9:])
    damaged.chmod(0o644)
    damaged.write_text("3,4\n" * 99 + "9,9\n")  # same size, other bytes: a disk or an edit
    out = tmp_path / "out"
    refused = cli("artifacts", "get", "data", "-o", str(out), code=1)
    assert "no longer matches its content hash" in one_line_error(refused)
    assert not any(p.is_file() for p in out.rglob("*"))  # nothing half-written is left
