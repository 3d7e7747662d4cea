"""``backprop import DIR --format tensorboard``: TensorBoard logs become runs.

Each run folder (``logdir.find_runs``) becomes a run named by its path, each event file a
session; every scalar becomes a metric point with its tag as key, its step, and its wall time.
Parameters logged with the hparams plugin (Lightning's ``log_hyperparams``) become a ``params``
event. Event files say nothing of how a run ended: such runs are ``completed``. A folder that
backprop exported gets its run back: id, name, status, sessions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from backprop_core import (
    Event,
    Importer,
    RunRecord,
    RunStatus,
    SessionRecord,
    Store,
)
from backprop_core.plugin_kit import (
    BATCH_LINES,
    ImportedRun,
    ImportReport,
    MetricBatcher,
    MetricLines,
    OwnedPoint,
    SourceError,
    as_number,
    imported_run_id,
    imported_tags,
    is_valid_run_id,
    run_from_dict,
    session_from_dict,
    source_record,
    write_runs,
)
from backprop_tensorboard.event_file import Protos, Records, file_records, protos, read_records
from backprop_tensorboard.logdir import RunFolder, find_runs, has_event_files
from backprop_tensorboard.scalars import ScalarDecoder

FORMAT = "tensorboard"
#: Records decoded at a time.
SLICE = 5_000
#: What ``FileReader.batches`` yields: points decoded from the files, by session.
RawBatch = list["tuple[int, list[OwnedPoint]] | Event"]
REASON = "imported from TensorBoard event files, which do not record how a run ended"


def _file_records(path: Path) -> Iterator[Records]:
    try:
        yield from file_records(path)
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # reading it says what is wrong
        return 0


def first_wall_time(pb: Protos, path: Path) -> float | None:
    """The wall time of a file's first record (its creation, for files TensorBoard wrote)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    records = read_records(head)
    if not records.data:
        return None
    return float(pb.event.Event.FromString(records.data[0]).wall_time)


class FileReader:
    """Reads one run's files into metric batches, noting each session's first and last time."""

    def __init__(self, pb: Protos, planned: ImportedRun, foreign: bool) -> None:
        self.pb = pb
        self.planned = planned
        self.foreign = foreign  # whether the files decide the sessions' and run's times
        self.decoder = ScalarDecoder(pb)
        self.batcher = MetricBatcher()

    def batches(self, files: list[tuple[Path, int]]) -> Iterator[RawBatch]:
        """The files' points, decoded, as ``(session, points)`` parts (``finish`` makes them
        a store batch; the part of the work that can be done in another process)."""
        decoder = self.decoder
        times: dict[int, list[float]] = {}
        read = decoder.read
        batch: RawBatch = []
        size = 0
        for path, session in files:
            decoder.new_file()
            first = last = None
            count = 0
            for records in _file_records(path):
                datas = records.data
                count += len(datas)
                # A slice of records at a time: decoded together, handed over together.
                for at in range(0, len(datas), SLICE):
                    events = [read(data) for data in datas[at : at + SLICE]]
                    if first is None:
                        first = events[0][0]
                    last = events[-1][0]
                    points: list[OwnedPoint] = [e for e in events if e[2]]
                    batch.append((session, points))
                    size += len(points)
                    if size >= BATCH_LINES:
                        yield batch
                        batch, size = [], 0
            self._note(path, records.damage, count, records.end)
            if first is not None and last is not None:
                span = times.setdefault(session, [first, last])
                span[0], span[1] = min(span[0], first), max(span[1], last)
        if decoder.params:
            batch.append(Event("params", self._first(times), None, {"data": decoder.params}))
        if batch:
            yield batch
        self._times(times)

    def finish(self, batch: RawBatch) -> list[Event | MetricLines]:
        """A store batch of what ``batches`` decoded."""
        batcher = self.batcher
        events: list[Event] = []
        for part in batch:
            if isinstance(part, Event):
                events.append(part)
            else:
                batcher.add_many(part[1], part[0])
        return [*batcher.take(), *events]

    def _note(self, path: Path, damage: str | None, count: int, end: int) -> None:
        if damage is not None:
            self.planned.warnings.append(
                f"{path.name}: {damage}; the {count} records before it were imported"
            )
        elif end < path.stat().st_size:
            self.planned.warnings.append(
                f"{path.name} ends in an incomplete record (still being written?); "
                f"the {count} records before it were imported"
            )

    @staticmethod
    def _first(times: dict[int, list[float]]) -> float:
        return min((span[0] for span in times.values()), default=0.0)

    def _times(self, times: dict[int, list[float]]) -> None:
        if not self.foreign or not times:
            return
        planned = self.planned
        for session, (first, last) in times.items():
            planned.session_updates[session] = {"started_at": first, "ended_at": last}
        planned.finally_set["ended_at"] = max(span[1] for span in times.values())


class TensorBoardImporter(Importer):
    """TensorBoard log folders (``SummaryWriter``, Lightning, Keras, TensorFlow)."""

    name: ClassVar[str] = "tensorboard"
    description: ClassVar[str] = "a TensorBoard log folder"
    priority: ClassVar[int] = 20

    @classmethod
    def detect(cls, path: Path) -> bool:
        return has_event_files(path)

    def import_into(self, store: Store, path: Path) -> ImportReport:
        pb = protos()
        planned = (self._plan(pb, found) for found in find_runs(path))
        return write_runs(store, planned, ImportReport())

    def _plan(self, pb: Protos, found: RunFolder) -> ImportedRun:
        foreign = found.sidecar is None
        planned = self._foreign(pb, found) if foreign else self._exported(found)
        reader = FileReader(pb, planned, foreign)
        planned.batches, planned.finish = reader.batches(found.files), reader.finish
        planned.source_bytes = sum(_size(path) for path, _ in found.files)
        return planned

    def _foreign(self, pb: Protos, found: RunFolder) -> ImportedRun:
        started = first_wall_time(pb, found.files[0][0])
        if started is None:
            started = min(path.stat().st_mtime for path, _ in found.files)
        run = RunRecord(
            id=imported_run_id("tb", found.label, str(found.folder.resolve())),
            status=RunStatus.COMPLETED,
            created_at=started,
            name=found.label,
            tags=imported_tags(FORMAT),
            started_at=started,
            reason=REASON,
            environment={"imported_from": source_record(FORMAT, found.folder)},
        )
        sessions = sorted({n for _, n in found.files})
        records = [
            SessionRecord(run.id, n, RunStatus.COMPLETED, started, reason=REASON) for n in sessions
        ]
        return ImportedRun(run, records, label=found.label)

    def _exported(self, found: RunFolder) -> ImportedRun:
        sidecar = found.sidecar or {}
        try:
            record = run_from_dict(dict(sidecar["run"]))
            sessions = [session_from_dict({**s, "run_id": record.id}) for s in sidecar["sessions"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceError(f"{found.label}: its backprop-run.json is damaged ({exc})") from exc
        exported_id = record.id
        if not is_valid_run_id(exported_id):
            record.id = imported_run_id("tb", found.label, str(found.folder.resolve()))
        for session in sessions:
            session.run_id = record.id
            if session.status.active:
                session.status = RunStatus.LOST
        if record.status.active:
            record.status = RunStatus.LOST
        record.tags = imported_tags(FORMAT, record.tags)
        record.environment = {
            **record.environment,
            "imported_from": source_record(FORMAT, found.folder, id=exported_id),
        }
        # The last values as the run recorded them, whatever order the files give the points.
        finally_set: dict[str, Any] = {
            "last_step": record.last_step,
            "last_metrics": {
                key: number
                for key, value in record.last_metrics.items()
                if (number := as_number(value)) is not None
            },
        }
        record.session_count = record.checkpoint_count = 0
        record.last_metrics, record.last_step = {}, None
        return ImportedRun(record, sessions, label=found.label, finally_set=finally_set)
