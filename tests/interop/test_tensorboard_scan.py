"""Finding a script's event files at every poll: as ``glob`` finds them, without following links
or descending without end, and without listing again folders that did not change."""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from backprop_tensorboard.scan import MAX_DEPTH, FolderScan


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def _names(found: list[Path], root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in found}


TREE = [
    "events.out.tfevents.1.top",
    "lightning_logs/version_0/events.out.tfevents.2.host",
    "runs/a/events.out.tfevents.3.host",
    "runs/a/b/events.out.tfevents.4.host",
    "runs/notes.txt",
    "outputs/2026-12-02/10-00-00/tb/events.out.tfevents.5.host",
    ".git/objects/events.out.tfevents.6.hidden",
    ".logs/run/events.out.tfevents.7.hidden",
    "runs/.cache/events.out.tfevents.8.hidden",
]
PATTERNS = [
    "**/*tfevents*",
    "runs/*/*tfevents*",
    "runs/**/*tfevents*",
    "*tfevents*",
    "lightning_logs/version_?/*",
    ".logs/**/*tfevents*",
    "**/tb/*",
    "[lr]*/**/*.host",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_patterns_find_what_glob_finds(tmp_path: Path, pattern: str) -> None:
    for rel in TREE:
        _touch(tmp_path / rel)
    expected = {
        Path(p).relative_to(tmp_path).as_posix()
        for p in glob.glob(str(tmp_path / pattern), recursive=True)
        if "tfevents" in Path(p).name and Path(p).is_file()
    }
    assert _names(FolderScan(tmp_path, [pattern]).files(), tmp_path) == expected


def test_links_to_folders_are_not_followed_even_in_a_loop(tmp_path: Path) -> None:
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    _touch(work / "runs/events.out.tfevents.1.host")
    _touch(elsewhere / "events.out.tfevents.2.host")
    os.symlink(work, work / "runs/loop")  # the working directory inside itself
    os.symlink(elsewhere, work / "mounted")
    found = FolderScan(work, ["**/*tfevents*"]).files()
    assert _names(found, work) == {"runs/events.out.tfevents.1.host"}


def test_folders_deeper_than_the_limit_are_not_looked_into(tmp_path: Path) -> None:
    deepest = tmp_path.joinpath(*[f"d{i}" for i in range(MAX_DEPTH)])
    _touch(deepest / "events.out.tfevents.1.host")
    _touch(deepest / "too-deep/events.out.tfevents.2.host")
    found = FolderScan(tmp_path, ["**/*tfevents*"]).files()
    assert found == [deepest / "events.out.tfevents.1.host"]


def test_the_home_and_what_is_below_it_are_skipped(tmp_path: Path) -> None:
    _touch(tmp_path / "home/runs/x/events.out.tfevents.1.host")
    _touch(tmp_path / "logs/events.out.tfevents.2.host")
    found = FolderScan(tmp_path, ["**/*tfevents*"], skip=[tmp_path / "home"]).files()
    assert _names(found, tmp_path) == {"logs/events.out.tfevents.2.host"}


def _settle(folders: list[Path]) -> None:
    """Date the folders well before now, as if they changed long ago."""
    past = time.time() - 60
    for folder in folders:
        os.utime(folder, (past, past))


def test_unchanged_folders_are_not_listed_again_and_new_files_are_found(tmp_path: Path) -> None:
    data = [tmp_path / "data" / f"class{i:03d}" for i in range(200)]
    for folder in data:
        for j in range(5):
            _touch(folder / f"img{j}.jpg")
    logs = _touch(tmp_path / "runs/a/events.out.tfevents.1.host").parent
    _settle([tmp_path, tmp_path / "data", tmp_path / "runs", logs, *data])
    scan = FolderScan(tmp_path, ["**/*tfevents*"])
    assert len(scan.files()) == 1
    assert scan.listed == 204

    assert len(scan.files()) == 1
    assert scan.listed == 0  # nothing changed: no folder listed again

    _touch(logs / "events.out.tfevents.2.host")  # a second writer, in a known folder
    _touch(tmp_path / "runs/b/events.out.tfevents.3.host")  # and in a new folder
    assert _names(scan.files(), tmp_path) == {
        "runs/a/events.out.tfevents.1.host",
        "runs/a/events.out.tfevents.2.host",
        "runs/b/events.out.tfevents.3.host",
    }
    assert scan.listed == 3  # runs, runs/a and runs/b; not the 200 data folders


def test_a_file_added_in_the_same_clock_tick_as_the_listing_is_found(tmp_path: Path) -> None:
    logs = _touch(tmp_path / "runs/events.out.tfevents.1.host").parent
    scan = FolderScan(tmp_path, ["**/*tfevents*"])
    assert len(scan.files()) == 1
    # A coarse clock: the folder's time does not move when a file is added just after.
    before = os.stat(logs).st_mtime_ns
    _touch(logs / "events.out.tfevents.2.host")
    os.utime(logs, ns=(before, before))
    assert len(scan.files()) == 2


def test_a_folder_removed_between_polls_is_forgotten(tmp_path: Path) -> None:
    import shutil

    _touch(tmp_path / "runs/a/events.out.tfevents.1.host")
    scan = FolderScan(tmp_path, ["**/*tfevents*"])
    assert len(scan.files()) == 1
    shutil.rmtree(tmp_path / "runs")
    assert scan.files() == []
    _touch(tmp_path / "runs/a/events.out.tfevents.2.host")
    assert _names(scan.files(), tmp_path) == {"runs/a/events.out.tfevents.2.host"}


def test_a_slow_look_through_the_folder_makes_the_watcher_poll_less_often(
    tmp_path: Path,
) -> None:
    from backprop_tensorboard.watcher import MAX_BUSY_SHARE, TensorBoardWatcher

    class SlowTail:
        problems: list[str] = []

        def poll(self) -> list[object]:
            time.sleep(0.2)  # the work a huge working directory costs, not a wait
            return []

    context = SimpleNamespace(
        session=1,
        settings=SimpleNamespace(tensorboard=SimpleNamespace(poll_seconds=2.0)),
        reported_metrics=lambda: False,
    )
    watcher = TensorBoardWatcher(context, SlowTail())  # type: ignore[arg-type]
    watcher.poll(time.time())
    assert watcher.poll_seconds >= 0.2 / MAX_BUSY_SHARE  # at least 4 s, not 2
