"""Reading backprop's own CSV and JSON exports back: ``backprop import FILE --format csv|json``.

Values, steps and times come back exactly as exported (NaN and ±Inf included). A run keeps its
id when that is a valid run id, so importing an export into the home it came from finds the run
already there.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from backprop_core import (
    Event,
    Importer,
    RunRecord,
    RunStatus,
    SessionRecord,
    Store,
    UsageError,
)
from backprop_core.plugin_kit import (
    ImportedRun,
    ImportReport,
    MetricBatcher,
    SessionClock,
    SourceError,
    as_number,
    as_step,
    batches_of,
    imported_run_id,
    imported_tags,
    is_valid_run_id,
    session_from_dict,
    source_record,
    write_runs,
)

CSV_HEADER = ["run_id", "run_name", "key", "step", "time", "value"]
#: The header of exports that carry each point's session (read like the one without it).
CSV_HEADER_SESSIONS = [*CSV_HEADER, "session"]


def _head(path: Path, size: int = 65_536) -> str:
    try:
        if not path.is_file():
            return ""
        with open(path, "rb") as fh:
            return fh.read(size).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    except OSError:
        return ""


def _unreadable(path: Path, exc: Exception, what: str) -> UsageError:
    return UsageError(f"cannot read {path}: {exc}", hint=f"is it {what}?")


def _run_id(fmt: str, exported_id: str, path: Path) -> str:
    if is_valid_run_id(exported_id):
        return exported_id
    return imported_run_id(fmt, exported_id, f"{path.resolve()}\0{exported_id}")


class CsvImporter(Importer):
    """A ``backprop export --format csv`` file: one row per metric point."""

    name: ClassVar[str] = "csv"
    description: ClassVar[str] = "a backprop CSV export"
    priority: ClassVar[int] = 50

    @classmethod
    def detect(cls, path: Path) -> bool:
        first = _head(path, 256).split("\n", 1)[0].strip()
        return first in (",".join(CSV_HEADER), ",".join(CSV_HEADER_SESSIONS))

    def import_into(self, store: Store, path: Path) -> ImportReport:
        runs: dict[str, tuple[str, list[tuple[float, int | None, dict[str, float]]]]] = {}
        report = ImportReport()
        try:
            with open(path, encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh)
                header = next(reader, None)
                if header not in (CSV_HEADER, CSV_HEADER_SESSIONS):
                    raise UsageError(
                        f"{path} is not a backprop CSV export",
                        hint=f"its first line must be {','.join(CSV_HEADER_SESSIONS)}",
                    )
                for n, row in enumerate(reader, start=2):
                    point = _csv_point(row, len(header))
                    if point is None:
                        report.problems.append(f"line {n} was not imported: {row!r:.80}")
                        continue
                    run_id, name, t, step, data = point
                    runs.setdefault(run_id, (name, []))[1].append((t, step, data))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise _unreadable(path, exc, "a backprop CSV export") from exc
        planned = (
            self._plan(path, run_id, name, points) for run_id, (name, points) in runs.items()
        )
        return write_runs(store, planned, report)

    def _plan(
        self,
        path: Path,
        exported_id: str,
        name: str,
        points: list[tuple[float, int | None, dict[str, float]]],
    ) -> ImportedRun:
        times = [t for t, _, _ in points]
        first, last = min(times), max(times)
        run = RunRecord(
            id=_run_id("csv", exported_id, path),
            status=RunStatus.COMPLETED,
            created_at=first,
            name=name or None,
            tags=imported_tags("csv"),
            started_at=first,
            ended_at=last,
            reason="imported from a backprop CSV export, which does not record how the run ended",
            environment={"imported_from": source_record("csv", path, id=exported_id)},
        )
        session = SessionRecord(run.id, 1, run.status, first, ended_at=last, reason=run.reason)
        batcher = MetricBatcher(1)
        return ImportedRun(run, [session], batches_of(batcher, points), f"run {exported_id}")


def _csv_point(
    row: list[str], columns: int
) -> tuple[str, str, float, int | None, dict[str, float]] | None:
    if len(row) != columns:
        return None
    run_id, name, key, step_text, time_text, value_text = row[: len(CSV_HEADER)]
    try:
        t = float(time_text)
        step = None if step_text == "" else int(step_text)
    except ValueError:
        return None
    value = as_number(value_text) if value_text[-1:].isalpha() else _float(value_text)
    if not run_id or not key or value is None or not math.isfinite(t):
        return None
    return run_id, name, t, step, {key: value}


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class JsonImporter(Importer):
    """A ``backprop export --format json`` file: runs as ``show --json`` prints them, with
    their metrics."""

    name: ClassVar[str] = "json"
    description: ClassVar[str] = "a backprop JSON export"
    priority: ClassVar[int] = 50

    @classmethod
    def detect(cls, path: Path) -> bool:
        head = _head(path)
        return head.startswith("[") and '"schema": "run-record.v1"' in head

    def import_into(self, store: Store, path: Path) -> ImportReport:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise _unreadable(path, exc, "a backprop JSON export") from exc
        if not isinstance(data, list):
            raise UsageError(f"{path} is not a backprop JSON export", hint="expected an array")
        return write_runs(store, (_plan_view(path, view) for view in data), ImportReport())


def _time(value: Any, what: str) -> float:
    t = as_number(value)
    if t is None or not math.isfinite(t):
        raise SourceError(f"{what} {value!r:.40} is not a time")
    return t


def _plan_view(path: Path, view: Any) -> ImportedRun:
    if not isinstance(view, Mapping) or not isinstance(view.get("id"), str):
        raise SourceError(f"an entry of {path} is not a run: {str(view)[:60]}")
    label = f"run {view['id']}"
    try:
        return _plan_run(path, view, label)
    except SourceError as exc:
        raise SourceError(f"{label} was not imported: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceError(f"{label} was not imported: {type(exc).__name__}: {exc}") from None


def _plan_run(path: Path, view: Mapping[str, Any], label: str) -> ImportedRun:
    exported_id = view["id"]
    created = _time(view.get("created_at"), "created_at")
    status = RunStatus(view.get("status") or "completed")
    if status.active:  # nothing supervises it here
        status = RunStatus.LOST
    kept: dict[str, Any] = {
        name: view.get(name)
        for name in ("name", "project", "script", "cwd", "framework", "exit_code", "signal")
        if isinstance(view.get(name), (str, int)) and not isinstance(view.get(name), bool)
    }
    environment = dict(view.get("environment") or {})
    environment["imported_from"] = source_record("json", path, id=exported_id)
    run = RunRecord(
        id=_run_id("json", exported_id, path),
        status=status,
        created_at=created,
        tags=imported_tags("json", view.get("tags") or {}),
        argv=[str(a) for a in view.get("argv") or []],
        command=[str(a) for a in view.get("command") or []],
        settings=dict(view.get("settings") or {}),
        started_at=None if view.get("started_at") is None else _time(view["started_at"], "start"),
        ended_at=None if view.get("ended_at") is None else _time(view["ended_at"], "end"),
        reason=view.get("reason") if isinstance(view.get("reason"), str) else None,
        summary=dict(view.get("summary") or {}),
        environment=environment,
        done=view.get("done") is True,
        **kept,
    )
    sessions = []
    for item in view.get("sessions") or [{"number": 1, "status": status, "started_at": created}]:
        session = session_from_dict({**item, "run_id": run.id})
        if session.status.active:
            session.status = RunStatus.LOST
        sessions.append(session)
    # The last values as the run recorded them, not as the metrics happen to be ordered here.
    finally_set: dict[str, Any] = {"last_metrics": _numbers(view.get("last_metrics"))}
    if as_step(view.get("last_step")) is not None:
        finally_set["last_step"] = as_step(view.get("last_step"))
    return ImportedRun(run, sessions, _view_batches(view, sessions), label, finally_set)


def _numbers(data: Any) -> dict[str, float]:
    if not isinstance(data, Mapping):
        return {}
    out = {}
    for key, value in data.items():
        number = as_number(value)
        if number is not None:
            out[str(key)] = number
    return out


def _view_batches(
    view: Mapping[str, Any], sessions: list[SessionRecord]
) -> Iterator[list[Event | Any]]:
    clock = SessionClock(sessions)
    events: list[Event | Any] = []
    for c in view.get("checkpoints") or []:
        payload: dict[str, Any] = {"path": c["path"], "metrics": _numbers(c.get("metrics"))}
        if c.get("best") is True:
            payload["best"] = True
        t = _time(c.get("time"), "a checkpoint's time")
        events.append(
            Event("checkpoint_saved", t, as_step(c.get("step")), payload, c.get("session"))
        )
    for a in view.get("alerts") or []:
        payload = {"level": a.get("level") or "warning", "text": a.get("text") or ""}
        t = _time(a.get("time"), "an alert's time")
        events.append(Event("alert", t, as_step(a.get("step")), payload, a.get("session")))
    if events:
        yield events
    batcher = MetricBatcher(sessions[0].number if sessions else 1)
    for key, series in (view.get("metrics") or {}).items():
        steps, times, values = series["steps"], series["times"], series["values"]
        if not len(steps) == len(times) == len(values):
            raise SourceError(f"metric {key!r} has columns of different lengths")
        for step, t, value in zip(steps, times, values):
            number = as_number(value)
            if number is None:
                raise SourceError(f"metric {key!r} holds {value!r:.40}, not a number")
            t = _time(t, f"a time of metric {key!r}")
            batcher.add(t, None if step is None else int(step), {key: number}, clock.session_at(t))
            if batcher.full():
                yield batcher.take()
    yield batcher.take()
