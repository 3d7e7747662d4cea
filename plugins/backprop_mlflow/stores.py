"""Reading the two MLflow tracking stores people have on disk, without MLflow itself: a file
store (``mlruns/``: ``meta.yaml`` files, one file per metric, param and tag) and a SQLite
tracking database (``sqlite:///mlflow.db``). Both give ``MlflowRun``s whose metrics come in
the order MLflow's own ``get_metric_history`` returns them."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from backprop_core.plugin_kit import SourceError, missing_extra

#: (key, timestamp in ms, step, value) of one metric point.
MetricRow = tuple[str, int, int, float]

#: MLflow's run statuses; the file store writes their numbers.
STATUS_NAMES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass
class MlflowRun:
    """One MLflow run as read from a file store or a tracking database."""

    run_id: str
    name: str | None
    status: str
    start_ms: int | None
    end_ms: int | None
    experiment_id: str
    experiment: str | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    #: The run's points, key by key, each key in MLflow's order; read when called.
    metrics: Callable[[], Iterator[MetricRow]] = lambda: iter(())


# --- file store -----------------------------------------------------------------------------
def _yaml(path: Path) -> dict[str, Any]:
    try:
        import yaml
    except ImportError as exc:
        raise missing_extra("reading an mlruns folder", "mlflow", exc) from exc
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _files(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by its relative path (names may hold '/'), with its text."""
    out: dict[str, str] = {}
    if not folder.is_dir():
        return out
    for where, _, files in os.walk(folder):
        for name in files:
            path = Path(where) / name
            out[path.relative_to(folder).as_posix()] = path.read_text(encoding="utf-8")
    return dict(sorted(out.items()))


def _metric_file(key: str, path: Path) -> Iterator[MetricRow]:
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                timestamp, value = int(parts[0]), float(parts[1])
                step = int(parts[2]) if len(parts) > 2 else 0
            except (ValueError, IndexError) as exc:
                raise SourceError(f"{path}, line {n}: not a metric point ({exc})") from exc
            yield key, timestamp, step, value


def _file_metrics(folder: Path) -> Iterator[MetricRow]:
    if not folder.is_dir():
        return
    paths = sorted(
        (Path(where) / name for where, _, files in os.walk(folder) for name in files),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
    for path in paths:
        yield from _metric_file(path.relative_to(folder).as_posix(), path)


def is_file_store(path: Path) -> bool:
    if (path / "mlruns").is_dir():
        path = path / "mlruns"
    if not path.is_dir():
        return False
    return any((child / "meta.yaml").is_file() and child.name.isdigit() for child in path.iterdir())


def file_store_runs(path: Path, deleted: list[str]) -> Iterator[MlflowRun]:
    """The runs of an ``mlruns`` folder (or of the folder holding one), experiment by
    experiment; deleted runs go into ``deleted`` instead."""
    if (path / "mlruns").is_dir():
        path = path / "mlruns"
    for experiment in sorted(p for p in path.iterdir() if (p / "meta.yaml").is_file()):
        meta = _yaml(experiment / "meta.yaml")
        name = meta.get("name")
        for folder in sorted(p for p in experiment.iterdir() if (p / "meta.yaml").is_file()):
            run = _yaml(folder / "meta.yaml")
            run_id = str(run.get("run_id") or run.get("run_uuid") or folder.name)
            if run.get("lifecycle_stage") == "deleted":
                deleted.append(run_id)
                continue
            status = run.get("status")
            tags = _files(folder / "tags")
            yield MlflowRun(
                run_id=run_id,
                name=run.get("run_name") or tags.get("mlflow.runName"),
                status=STATUS_NAMES.get(status, str(status))
                if isinstance(status, int)
                else str(status),
                start_ms=run.get("start_time"),
                end_ms=run.get("end_time"),
                experiment_id=str(meta.get("experiment_id", experiment.name)),
                experiment=name if isinstance(name, str) else None,
                params=_files(folder / "params"),
                tags=tags,
                metrics=partial(_file_metrics, folder / "metrics"),
            )


# --- SQLite tracking database ---------------------------------------------------------------
def is_sqlite_store(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            if fh.read(16) != SQLITE_MAGIC:
                return False
    except OSError:
        return False
    try:
        with _connect(path) as conn:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    except (sqlite3.Error, SourceError):
        return False
    return {"runs", "metrics", "params", "tags", "experiments"} <= names


def _connect(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise SourceError(f"cannot open {path}: {exc}") from exc


def _sql_metrics(path: Path, run_id: str) -> Iterator[MetricRow]:
    conn = _connect(path)
    try:
        rows = conn.execute(
            # MLflow's own order (get_metric_history), and its NaN, kept apart from the value
            "SELECT key, timestamp, step, CASE WHEN is_nan THEN NULL ELSE value END"
            " FROM metrics WHERE run_uuid = ? ORDER BY key, timestamp, step, value",
            (run_id,),
        )
        for key, timestamp, step, value in rows:
            yield key, timestamp, step, float("nan") if value is None else float(value)
    finally:
        conn.close()


def sqlite_store_runs(path: Path, deleted: list[str]) -> Iterator[MlflowRun]:
    conn = _connect(path)
    try:
        runs = conn.execute(
            "SELECT r.run_uuid, r.name, r.status, r.start_time, r.end_time, r.lifecycle_stage,"
            " r.experiment_id, e.name FROM runs r LEFT JOIN experiments e"
            " ON e.experiment_id = r.experiment_id ORDER BY r.experiment_id, r.start_time"
        ).fetchall()
        params: dict[str, dict[str, str]] = {}
        for key, value, run_id in conn.execute("SELECT key, value, run_uuid FROM params"):
            params.setdefault(run_id, {})[key] = value
        tags: dict[str, dict[str, str]] = {}
        for key, value, run_id in conn.execute("SELECT key, value, run_uuid FROM tags"):
            tags.setdefault(run_id, {})[key] = value
    except sqlite3.Error as exc:
        raise SourceError(f"cannot read {path}: {exc}") from exc
    finally:
        conn.close()
    for run_id, name, status, start, end, stage, experiment_id, experiment in runs:
        if stage == "deleted":
            deleted.append(run_id)
            continue
        yield MlflowRun(
            run_id=run_id,
            name=name,
            status=str(status),
            start_ms=start,
            end_ms=end,
            experiment_id=str(experiment_id),
            experiment=experiment,
            params=dict(sorted(params.get(run_id, {}).items())),
            tags=dict(sorted(tags.get(run_id, {}).items())),
            metrics=partial(_sql_metrics, path, run_id),
        )
