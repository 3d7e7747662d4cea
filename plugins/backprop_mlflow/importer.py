"""``backprop import PATH --format mlflow``: MLflow runs become backprop runs.

PATH is an MLflow file store (``mlruns/``, or the folder holding it) or a SQLite tracking
database. Each run keeps its name, status, start and end, parameters (a ``params`` event, as
strings, as MLflow keeps them), tags, and every metric point with its step and timestamp; its
experiment becomes the run's project. Runs MLflow deleted are left out. The run id is
``mlflow-<MLflow run id>``, so a run imported twice (even from both stores) is there once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from backprop_core import Event, Importer, RunRecord, RunStatus, SessionRecord, Store
from backprop_core.plugin_kit import (
    ImportedRun,
    ImportReport,
    MetricBatcher,
    imported_run_id,
    imported_tags,
    is_valid_run_id,
    source_record,
    write_runs,
)
from backprop_mlflow.stores import (
    MlflowRun,
    file_store_runs,
    is_file_store,
    is_sqlite_store,
    sqlite_store_runs,
)

FORMAT = "mlflow"
STATUSES = {
    "FINISHED": RunStatus.COMPLETED,
    "FAILED": RunStatus.FAILED,
    "KILLED": RunStatus.KILLED,
    # Nothing watches these any more: the process MLflow knew of is gone or elsewhere.
    "RUNNING": RunStatus.LOST,
    "SCHEDULED": RunStatus.LOST,
}


def _seconds(ms: Any) -> float | None:
    return ms / 1000.0 if isinstance(ms, int) and not isinstance(ms, bool) else None


def _metric_batches(found: MlflowRun, planned: ImportedRun) -> Iterator[list[Any]]:
    batcher = MetricBatcher(1)
    last: dict[str, float] = {}
    last_step: int | None = None
    for key, timestamp, step, value in found.metrics():
        batcher.add(timestamp / 1000.0, step, {key: value})
        last[key] = value
        last_step = step if last_step is None else max(last_step, step)
        if batcher.full():
            yield batcher.take()
    rest = batcher.take()
    if found.params:
        started = planned.run.started_at or planned.run.created_at
        rest.insert(0, Event("params", started, None, {"data": dict(found.params)}, 1))
    if rest:
        yield rest
    # Key by key, the last point written is not the run's last: say what MLflow's were.
    planned.finally_set.update(last_metrics=last, last_step=last_step)


def plan(source: Path, found: MlflowRun) -> ImportedRun:
    run_id = f"mlflow-{found.run_id}"
    if not is_valid_run_id(run_id):
        run_id = imported_run_id(FORMAT, found.name or "run", found.run_id)
    status = STATUSES.get(found.status.upper(), RunStatus.LOST)
    started, ended = _seconds(found.start_ms), _seconds(found.end_ms)
    reason = f"imported from MLflow (status {found.status})"
    created = started if started is not None else 0.0
    run = RunRecord(
        id=run_id,
        status=status,
        created_at=created,
        name=found.name or None,
        tags=imported_tags(FORMAT, found.tags),
        project=found.experiment,
        started_at=started,
        ended_at=ended,
        reason=reason,
        environment={
            "imported_from": source_record(
                FORMAT,
                source,
                run_id=found.run_id,
                experiment_id=found.experiment_id,
                experiment=found.experiment,
            )
        },
    )
    session = SessionRecord(run_id, 1, status, created, ended_at=ended, reason=reason)
    planned = ImportedRun(run, [session], label=f"MLflow run {found.run_id}")
    planned.batches = _metric_batches(found, planned)
    return planned


class MlflowImporter(Importer):
    """MLflow file stores and SQLite tracking databases."""

    name: ClassVar[str] = FORMAT
    description: ClassVar[str] = "an MLflow mlruns folder or SQLite tracking database"
    priority: ClassVar[int] = 30

    @classmethod
    def detect(cls, path: Path) -> bool:
        return is_file_store(path) if path.is_dir() else is_sqlite_store(path)

    def import_into(self, store: Store, path: Path) -> ImportReport:
        deleted: list[str] = []
        read = file_store_runs if path.is_dir() else sqlite_store_runs
        runs = read(path, deleted)
        report = write_runs(store, (plan(path, found) for found in runs), ImportReport())
        if deleted:
            report.warnings.append(f"{len(deleted)} run(s) MLflow deleted were left out")
        return report
