"""A large import's source read in a child process (``interop/read_ahead.py``) gives exactly
what reading it here gives: the same points, records, warnings and end times; a failure on
either side rejects the run whole and leaves no child behind."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backprop_core.events.ingest import MetricLines
from backprop_core.interop import importer as importer_module
from backprop_core.interop.importer import (
    ImportedRun,
    ImportReport,
    MetricBatcher,
    SourceError,
    write_run,
)
from backprop_core.interop.read_ahead import READ_AHEAD_BYTES, can_read_ahead
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord
from tests.conftest import run_cli
from tests.interop.conftest import RUN_ID, open_store, series_of
from tests.interop.test_tensorboard import exported, write_summarywriter_logs

pytest.importorskip("tensorboard")
pytestmark = pytest.mark.skipif(not can_read_ahead(), reason="reads ahead only where it forks")


def import_tb(home: Path, logdir: Path, monkeypatch: pytest.MonkeyPatch, ahead: bool) -> Any:
    """Import ``logdir`` in this process, its sources read in a child (``ahead``) or here."""
    from backprop_tensorboard.importer import TensorBoardImporter

    monkeypatch.setattr(importer_module, "READ_AHEAD_BYTES", 0 if ahead else 1 << 62)
    with open_store(home) as store:
        return TensorBoardImporter().import_into(store, logdir)


def everything(home: Path) -> dict[str, Any]:
    """What a user can see of every run: records, sessions, events and series."""
    with open_store(home) as store:
        out = {}
        for run in store.list_runs():
            events = list(store.event_rows(run.id))
            out[run.name] = (run, store.sessions(run.id), events, series_of(store, run.id))
        return out


def test_a_run_read_in_a_child_is_stored_exactly_as_one_read_here(
    homes: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, _ = homes
    logdir = tmp_path / "logs"
    write_summarywriter_logs(logdir)  # foreign files: reading decides the sessions' times
    (exported(tmp_path, source)).rename(logdir / "ours")  # a sidecar: ids, NaN, ±Inf, 2**40

    ahead = import_tb(tmp_path / "ahead", logdir, monkeypatch, ahead=True)
    here = import_tb(tmp_path / "here", logdir, monkeypatch, ahead=False)

    assert ahead.imported == here.imported and RUN_ID in ahead.imported
    assert len(ahead.imported) == 4 and ahead.problems == [] and ahead.warnings == []
    assert everything(tmp_path / "ahead") == everything(tmp_path / "here")
    assert multiprocessing.active_children() == []


def test_a_damaged_file_read_in_a_child_keeps_its_points_and_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logdir = tmp_path / "runs"
    write_summarywriter_logs(logdir)
    (path,) = (logdir / "exp1" / "torch").glob("*tfevents*")
    path.write_bytes(path.read_bytes()[:-7])  # a writer killed mid-record

    ahead = import_tb(tmp_path / "ahead", logdir, monkeypatch, ahead=True)
    here = import_tb(tmp_path / "here", logdir, monkeypatch, ahead=False)

    assert ahead.warnings == here.warnings and "incomplete record" in ahead.warnings[0]
    assert everything(tmp_path / "ahead") == everything(tmp_path / "here")


def planned_run(run_id: str, batches: Iterator[Any]) -> ImportedRun:
    run = RunRecord(run_id, RunStatus.COMPLETED, 1.0, name=run_id)
    session = SessionRecord(run_id, 1, RunStatus.COMPLETED, 1.0)
    return ImportedRun(run, [session], batches, label=run_id, source_bytes=1 << 30)


def two_batches_then(failure: BaseException) -> Iterator[list[MetricLines]]:
    for start in (0, 100):
        batcher = MetricBatcher(1)
        batcher.add_many([(float(i), i, {"loss": i / 10}) for i in range(start, start + 100)])
        yield batcher.take()  # type: ignore[misc]
    raise failure


def test_a_source_that_fails_in_the_child_rejects_the_run_whole(tmp_path: Path) -> None:
    report = ImportReport()
    with open_store(tmp_path / "home") as store:
        planned = planned_run("broken", two_batches_then(SourceError("x.tfevents: cut off")))
        write_run(store, planned, report)
        assert store.list_runs() == []
    assert report.imported == []
    assert report.problems == ["broken was not imported: x.tfevents: cut off"]
    assert multiprocessing.active_children() == []


def test_a_bug_in_the_child_reaches_the_report_as_it_would_from_here(tmp_path: Path) -> None:
    report = ImportReport()
    with open_store(tmp_path / "home") as store:
        planned = planned_run("buggy", two_batches_then(ZeroDivisionError("division by zero")))
        write_run(store, planned, report)
        assert store.list_runs() == []
    assert report.problems == ["buggy was not imported: division by zero"]


def test_ctrl_c_in_the_child_stops_the_import_here(tmp_path: Path) -> None:
    with open_store(tmp_path / "home") as store:
        planned = planned_run("stopped", two_batches_then(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            write_run(store, planned, ImportReport())
        assert store.list_runs() == []
    assert multiprocessing.active_children() == []


def test_a_store_failure_here_stops_the_child(tmp_path: Path) -> None:
    def endless() -> Iterator[list[MetricLines]]:
        step = 0
        while True:
            batcher = MetricBatcher(1)
            batcher.add_many([(float(step), step, {"loss": 1.0})])
            step += 1
            yield batcher.take()  # type: ignore[misc]

    report = ImportReport()
    with open_store(tmp_path / "home") as store:
        calls = 0
        append = store.append_batch

        def failing(run_id: str, items: Any) -> None:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise OSError(28, "No space left on device")
            append(run_id, items)

        store.append_batch = failing  # type: ignore[method-assign]
        write_run(store, planned_run("full", endless()), report)
        assert store.list_runs() == []
    assert report.problems == ["full was not imported: [Errno 28] No space left on device"]
    assert multiprocessing.active_children() == []


def test_backprop_import_of_a_large_run_prints_one_report_and_stores_every_point(
    tmp_path: Path,
) -> None:
    from backprop_tensorboard.export import TensorBoardExporter

    source = tmp_path / "source"
    steps = 60_000  # two keys: 120,000 points, files well over the read-ahead threshold
    with open_store(source) as store:
        store.create_run(RunRecord("big", RunStatus.COMPLETED, 1.0, name="big"))
        store.add_session(SessionRecord("big", 1, RunStatus.COMPLETED, 1.0))
        batcher = MetricBatcher(1)
        for step in range(steps):
            batcher.add(1.0 + step * 1e-3, step, {"loss": 1 / (step + 1), "acc": step / steps})
            if batcher.full():
                store.append_batch("big", batcher.take())
        store.append_batch("big", batcher.take())
        (tmp_path / "tb").mkdir()
        TensorBoardExporter().export_to(store, [store.get_run("big")], tmp_path / "tb")
    size = sum(p.stat().st_size for p in (tmp_path / "tb").rglob("*tfevents*"))
    assert size > READ_AHEAD_BYTES

    dest = tmp_path / "dest"
    result = run_cli("import", str(tmp_path / "tb"), "--json", env={"BACKPROP_HOME": str(dest)})

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # one document: nothing printed twice by the child
    assert report["imported"] == ["big"] and report["problems"] == []
    with open_store(source) as a, open_store(dest) as b:
        assert series_of(b, "big") == series_of(a, "big")
        assert len(b.metric_series("big", "loss")) == steps
