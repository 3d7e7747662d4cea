"""`backprop gc` deletes only what backprop can prove it owns: real files, real stores, the real
command in a subprocess."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backprop_core.events.event import Event
from backprop_core.plugin.manager import get_plugins
from backprop_core.store.contract import Store
from backprop_core.store.home import make_run_folder
from backprop_core.store.records import RunRecord, RunStatus
from tests.conftest import run_cli

T0 = 1_790_000_000.0
HOUR_AGO = time.time() - 7200


def open_store(name: str) -> Store:
    store = get_plugins().store_class(name)(Path(os.environ["BACKPROP_HOME"]))
    store.home.ensure()
    return store


@pytest.fixture(params=["sqlite", "json"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("BACKPROP_STORE", request.param)
    s = open_store(request.param)
    yield s
    s.close()


def add_run(store: Store, run_id: str, **fields: object) -> RunRecord:
    fields.setdefault("status", RunStatus.COMPLETED)
    return store.create_run(RunRecord(id=run_id, created_at=T0, **fields))  # type: ignore[arg-type]


def announce(store: Store, run_id: str, paths: list[str]) -> None:
    store.append_events(
        run_id,
        [Event("checkpoint_saved", T0 + i, i, {"path": p}) for i, p in enumerate(paths)],
    )


def gc_json(*args: str, **kw: object) -> dict[str, object]:
    result = run_cli("gc", *args, "--json", **kw)  # type: ignore[arg-type]
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert isinstance(report, dict)
    return report


def aged_run_folder(store: Store, run_id: str) -> Path:
    folder = make_run_folder(store.home.run_dir(run_id))
    (folder / "session-1.log").write_text("old output\n")
    os.utime(folder, (HOUR_AGO, HOUR_AGO))
    return folder


def test_gc_forgets_but_never_deletes_what_no_run_made(store: Store, tmp_path: Path) -> None:
    proj, user = tmp_path / "proj", tmp_path / "user"
    proj.mkdir()
    user.mkdir()
    (user / "notes.txt").write_text("my notes")
    (tmp_path / "elsewhere").mkdir()
    data = tmp_path / "elsewhere" / "data.bin"
    data.write_bytes(b"data")
    for folder in ("datadir", "data"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "inside.bin").write_bytes(b"inside")
    link = tmp_path / "link.pt"
    link.symlink_to(data)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    run = add_run(store, "20260101-000000-gcgc", cwd=str(proj))
    run_folder = aged_run_folder(store, run.id)
    store_file = store.home.root / ("backprop.db" if store.name == "sqlite" else "experiments.json")
    announced = [
        str(data),
        str(tmp_path / "datadir"),
        "../data",
        "~/notes.txt",
        str(store_file),
        str(store.home.runs_dir),
        str(link),
        str(run_folder / "session-1.log"),
        str(fifo),
        "no\x00such",
        "keep.pt",
    ]
    announce(store, run.id, announced)
    env = {"HOME": str(user)}

    dry = gc_json("--keep-last", "1", "--dry-run", env=env)
    items = dry["items"]
    assert isinstance(items, list) and len(items) == len(announced) - 1
    assert {i["action"] for i in items} == {"forget"}, items
    reasons = {Path(i["path"]).name: i["reason"] for i in items}
    assert "directory" in reasons["datadir"] and "directory" in reasons["data"]
    assert "not seen being created" in reasons["notes.txt"]
    assert "symbolic link" in reasons["link.pt"]
    assert "backprop home" in reasons[store_file.name]
    assert "own records" in reasons["session-1.log"]
    assert "not a regular file" in reasons["pipe"]
    text = run_cli("gc", "--keep-last", "1", "--dry-run", env=env)
    assert "would forget checkpoint " + str(data) in text.stdout
    assert "nothing to delete" in text.stdout

    done = gc_json("--keep-last", "1", env=env)
    assert done["bytes"] == 0
    for path in (data, tmp_path / "datadir" / "inside.bin", tmp_path / "data" / "inside.bin"):
        assert path.read_bytes()
    assert (user / "notes.txt").read_text() == "my notes" and link.is_symlink()
    assert store_file.exists() and (run_folder / "session-1.log").exists()
    assert [c.path for c in store.checkpoints(run.id)] == ["keep.pt"]
    assert run_cli("list").returncode == 0


def test_imported_runs_own_no_files(store: Store, tmp_path: Path) -> None:
    where = tmp_path / "somewhere"
    (where / "ckpt").mkdir(parents=True)
    files = [where / "ckpt" / name for name in ("a.pt", "b.pt", "c.pt")]
    for f in files:
        f.write_bytes(b"weights")
    node = {
        "exp_1": {
            "id": "exp_1",
            "status": "completed",
            "startTime": 1731000000000,
            "checkpoints": [str(files[0]), {"path": "ckpt/b.pt", "step": 1}],
            "lastCheckpoint": "ckpt/c.pt",
        }
    }
    source = tmp_path / "experiments.json"
    source.write_text(json.dumps(node))
    assert run_cli("import", str(source)).returncode == 0

    report = gc_json("--keep-last", "0", cwd=where)
    assert {i["reason"] for i in report["items"]} == {"imported runs own no files"}  # type: ignore[union-attr]
    assert all(f.exists() for f in files)
    assert store.checkpoints("exp_1") == []


def test_pulled_runs_own_no_files_outside_their_folder(store: Store, tmp_path: Path) -> None:
    """A pull copies a run's checkpoints into its folder here: those are the run's to prune.
    A file outside it is never deleted, even one that looks made by the run."""
    from backprop_core.events.file_identity import identify

    outside = tmp_path / "outside.pt"
    outside.write_bytes(b"weights")
    seen = identify(str(outside), str(tmp_path), time.time() - 60, store.home.root)
    assert seen is not None  # for a run recorded here, gc would delete it
    run = add_run(store, "20260101-000000-pull", cwd=str(tmp_path), origin="gpu-box")
    folder = aged_run_folder(store, run.id)
    (folder / "checkpoints").mkdir()
    copied = folder / "checkpoints" / "copied.pt"
    copied.write_bytes(b"weights")
    store.append_events(
        run.id,
        [
            Event("checkpoint_saved", T0, 1, {"path": str(outside)}, file=seen),
            Event("checkpoint_saved", T0 + 1, 2, {"path": str(copied)}),
            Event("checkpoint_saved", T0 + 2, 3, {"path": "keep.pt"}),
        ],
    )
    report = gc_json("--keep-last", "1")
    reasons = {Path(str(i["path"])).name: i for i in report["items"]}  # type: ignore[union-attr]
    assert reasons["outside.pt"]["action"] == "forget"
    assert "pulled" in str(reasons["outside.pt"]["reason"])
    assert reasons["copied.pt"]["action"] == "delete"
    assert outside.exists() and not copied.exists()


def test_a_file_another_runs_kept_checkpoint_names_is_never_deleted(
    store: Store, tmp_path: Path
) -> None:
    """Run A made ``shared.pt`` and would prune it; run B started from it and keeps it as its
    newest checkpoint: gc forgets A's record and leaves the file."""
    from backprop_core.events.file_identity import identify

    shared = tmp_path / "shared.pt"
    shared.write_bytes(b"weights")
    seen = identify(str(shared), str(tmp_path), time.time() - 60, store.home.root)
    assert seen is not None  # made by run A: gc would delete it, were it A's alone
    a = add_run(store, "20260101-000000-runa", cwd=str(tmp_path))
    b = add_run(store, "20260101-000000-runb", cwd=str(tmp_path))
    store.append_events(
        a.id,
        [
            Event("checkpoint_saved", T0, 1, {"path": str(shared)}, file=seen),
            Event("checkpoint_saved", T0 + 1, 2, {"path": "a-newer.pt"}),
        ],
    )
    store.append_events(b.id, [Event("checkpoint_saved", T0 + 2, 5, {"path": str(shared)})])

    report = gc_json("--keep-last", "1")
    about = [i for i in report["items"] if i["path"] == str(shared)]  # type: ignore[union-attr]
    assert [i["action"] for i in about] == ["forget"], about
    assert shared.read_bytes() == b"weights"
    assert [c.path for c in store.checkpoints(b.id)] == [str(shared)]


def test_a_run_folder_another_store_knows_is_not_an_orphan(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = add_run(store, "20260101-000000-mine")
    folder = aged_run_folder(store, run.id)
    other = "json" if store.name == "sqlite" else "sqlite"
    monkeypatch.setenv("BACKPROP_STORE", other)
    report = gc_json()
    assert report["items"] == [] and folder.exists()


@pytest.mark.parametrize("store_file", ["backprop.db", "experiments.json"])
def test_after_a_store_is_moved_aside_gc_keeps_run_folders_until_told(
    store_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "sqlite" if store_file == "backprop.db" else "json"
    monkeypatch.setenv("BACKPROP_STORE", name)
    with open_store(name) as store:
        add_run(store, "20260101-000000-kept")
        folder = aged_run_folder(store, "20260101-000000-kept")
        home = store.home
    (home.root / store_file).write_bytes(b"\x00 this is not a store \x00" * 100)
    listed = run_cli("list")
    assert listed.returncode == 0 and "gc-hold.txt" in listed.stderr

    held = gc_json()
    (item,) = held["items"]  # type: ignore[misc]
    assert item["action"] == "keep" and "moved to" in item["reason"] and folder.exists()
    assert "backprop gc --orphans" in run_cli("gc").stdout

    assert gc_json("--orphans", "--dry-run")["items"][0]["action"] == "delete"  # type: ignore[index]
    assert folder.exists() and home.hold_file.exists()
    released = gc_json("--orphans")
    assert released["items"][0]["action"] == "delete"  # type: ignore[index]
    assert not folder.exists() and not home.hold_file.exists()


def test_only_folders_backprop_marked_are_orphans(store: Store) -> None:
    unmarked = store.home.runs_dir / "20250101-000000-user"
    unmarked.mkdir(parents=True)
    (unmarked / "results.csv").write_text("precious\n")
    os.utime(unmarked, (HOUR_AGO, HOUR_AGO))
    copied = store.home.runs_dir / "20250101-000000-copy"
    copied.mkdir()
    (copied / ".backprop-run").write_text(json.dumps({"run_id": "20250101-000000-else"}))
    os.utime(copied, (HOUR_AGO, HOUR_AGO))
    marked = aged_run_folder(store, "20250101-000000-orph")

    report = gc_json()
    actions = {Path(i["path"]).name: i["action"] for i in report["items"]}  # type: ignore[union-attr]
    assert actions == {
        "20250101-000000-copy": "keep",
        "20250101-000000-orph": "delete",
        "20250101-000000-user": "keep",
    }
    assert (unmarked / "results.csv").exists() and copied.exists() and not marked.exists()


def test_a_json_store_from_before_keeps_the_file_its_newest_record_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Older versions recorded every save of ckpt.pt; pruning the older records must neither
    delete the file nor forget the newest record."""
    monkeypatch.setenv("BACKPROP_STORE", "json")
    with open_store("json") as store:
        add_run(store, "20260101-000000-olds", cwd=str(tmp_path))
        announce(store, "20260101-000000-olds", ["ckpt.pt"])
        index_path = store.home.root / "experiments.json"
    (tmp_path / "ckpt.pt").write_bytes(b"newest weights")
    index = json.loads(index_path.read_text())
    (record,) = index["checkpoints"]["20260101-000000-olds"]
    index["checkpoints"]["20260101-000000-olds"] = [
        {**record, "time": T0 + i, "step": i} for i in range(3)
    ]
    index_path.write_text(json.dumps(index))

    report = gc_json("--keep-last", "1")
    assert [i["action"] for i in report["items"]] == ["keep", "keep"]  # type: ignore[union-attr]
    assert (tmp_path / "ckpt.pt").read_bytes() == b"newest weights"
    with open_store("json") as store:
        assert [c.step for c in store.checkpoints("20260101-000000-olds")] == [0, 1, 2]
        announce(store, "20260101-000000-olds", ["./ckpt.pt"])  # the next save tidies up
        assert [c.path for c in store.checkpoints("20260101-000000-olds")] == ["./ckpt.pt"]
        assert store.get_run("20260101-000000-olds").checkpoint_count == 1
