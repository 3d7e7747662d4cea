"""``backprop import DIR --format wandb``: W&B offline runs become backprop runs.

DIR is a ``wandb/`` folder, one ``offline-run-*`` (or synced ``run-*``) folder, or a
``run-<id>.wandb`` file. Each run file gives one run: its name, project, tags and notes, its
config as parameters (a ``params`` event), every numeric value of its history as metric points
at their ``_step`` and ``_timestamp`` (nested keys joined with dots), its summary, and how it
ended (``completed`` for exit code 0, ``failed`` otherwise, ``lost`` when the file has no exit
record: the process died). Media, tables, console output and system metrics are left out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from backprop_core import Event, Importer, RunRecord, RunStatus, SessionRecord, Store
from backprop_core.plugin_kit import (
    ImportedRun,
    ImportReport,
    MetricBatcher,
    SourceError,
    as_step,
    imported_run_id,
    imported_tags,
    source_record,
    write_runs,
)
from backprop_wandb.transaction_log import is_run_file, read_chunks, record_class

FORMAT = "wandb"
REASON = "imported from a W&B run file"
#: W&B's own bookkeeping keys, not metrics.
_INTERNAL = ("_wandb", "_runtime", "_step", "_timestamp")


def run_files(path: Path) -> list[Path]:
    """The run files at ``path``: itself, or ``run-*.wandb`` in it, in its run folders, or in
    the run folders of its ``wandb/`` folder."""
    if path.is_file():
        return [path] if is_run_file(path) else []
    found = [*path.glob("run-*.wandb"), *path.glob("*/run-*.wandb")]
    found += path.glob("wandb/*/run-*.wandb")
    # latest-run is a link to a run folder that is listed anyway
    real = {p.resolve(): p for p in sorted(found) if not p.parent.is_symlink()}
    return sorted(p for p in real.values() if is_run_file(p))


def _key(item: Any) -> str:
    return ".".join(item.nested_key) if item.nested_key else str(item.key)


def _int(text: str) -> int | float:
    return -0.0 if text == "-0" else int(text)  # how W&B writes -0.0


def _decode(text: str) -> Any:
    try:
        return json.loads(text, parse_int=_int)
    except ValueError:
        return None


def _flat_numbers(prefix: str, value: Any, out: dict[str, float]) -> None:
    """Numbers (not booleans) of a history value; nested objects as dotted keys. Media and
    tables are objects with a ``_type``: not metrics."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        try:
            out[prefix] = float(value)
        except OverflowError:
            return
    elif isinstance(value, dict) and "_type" not in value:
        for key, inner in value.items():
            _flat_numbers(f"{prefix}.{key}", inner, out)


class RunReader:
    """Turns one run file's records into a planned run, reading the file once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.params: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.header: Any = None
        self.exit_code: int | None = None
        self.runtime: float | None = None
        self.problems: list[str] = []
        self.last_time: float | None = None

    def plan(self) -> ImportedRun:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise SourceError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        chunks = read_chunks(data, self.path)
        self.problems = chunks.problems  # filled in as the records are read
        record = record_class()
        records = (record.FromString(raw) for raw in chunks.records)
        history = self._history(records)
        first = next(history, None)  # the run record comes first; read up to it
        if self.header is None:
            raise SourceError(f"{self.path} holds no run record")
        header = self.header
        started = header.start_time.ToMicroseconds() / 1e6 if header.HasField("start_time") else 0
        tags = {f"wandb.{name}": value for name, value in self._header_tags().items() if value}
        run = RunRecord(
            id=imported_run_id(FORMAT, header.run_id or self.path.stem, str(self.path.resolve())),
            status=RunStatus.LOST,
            created_at=started,
            name=header.display_name or header.run_id or None,
            tags=imported_tags(FORMAT, tags),
            project=header.project or None,
            started_at=started,
            reason=REASON,
            environment={
                "imported_from": source_record(
                    FORMAT, self.path, run_id=header.run_id, project=header.project
                )
            },
        )
        session = SessionRecord(run.id, 1, RunStatus.LOST, started, reason=REASON)
        planned = ImportedRun(run, [session], label=self.path.parent.name)
        planned.batches = self._batches(first, history, planned)
        return planned

    def _header_tags(self) -> dict[str, str]:
        header = self.header
        return {
            "tags": ",".join(header.tags),
            "notes": header.notes,
            "group": header.run_group,
            "job_type": header.job_type,
            "entity": header.entity,
        }

    def _history(
        self, records: Iterator[Any]
    ) -> Iterator[tuple[float, int | None, dict[str, float]]]:
        """History rows as (time, step, numbers), the other records folded into the reader."""
        for record in records:
            kind = record.WhichOneof("record_type")
            if kind == "history":
                row = self._row(record.history)
                if row is not None:
                    yield row
            elif kind == "run":
                self.header = record.run
                self._config(record.run.config)
            elif kind == "config":
                self._config(record.config)
            elif kind == "summary":
                for item in record.summary.update:
                    key = _key(item)
                    if key.split(".")[0] not in _INTERNAL:
                        self.summary[key] = _decode(item.value_json)
                for item in record.summary.remove:
                    self.summary.pop(_key(item), None)
            elif kind == "exit":
                self.exit_code = record.exit.exit_code
                self.runtime = float(record.exit.runtime)

    def _config(self, config: Any) -> None:
        for item in config.update:
            key = _key(item)
            if key != "_wandb":
                self.params[key] = _decode(item.value_json)
        for item in config.remove:
            self.params.pop(_key(item), None)

    def _row(self, history: Any) -> tuple[float, int | None, dict[str, float]] | None:
        values: dict[str, float] = {}
        t: float | None = None
        step: int | None = history.step.num if history.HasField("step") else None
        for item in history.item:
            key = _key(item)
            value = _decode(item.value_json)
            if key == "_timestamp" and isinstance(value, (int, float)):
                t = float(value)
            elif key == "_step":
                step = as_step(value)
            elif not key.startswith("_"):
                _flat_numbers(key, value, values)
        if not values:
            return None
        if t is None or not math.isfinite(t):
            t = self.last_time or 0.0
        self.last_time = t
        return t, step, values

    def _batches(
        self, first: Any, history: Iterator[Any], planned: ImportedRun
    ) -> Iterator[list[Any]]:
        batcher = MetricBatcher(1)
        rows = history if first is None else _chain(first, history)
        for t, step, values in rows:
            batcher.add(t, step, values)
            if batcher.full():
                yield batcher.take()
        rest = batcher.take()
        started = planned.run.created_at
        if self.params:
            rest.insert(0, Event("params", started, None, {"data": self.params}, 1))
        if self.summary:
            end = self.last_time or started
            rest.append(Event("summary", end, None, {"data": self.summary}, 1))
        if rest:
            yield rest
        self._ending(planned)

    def _ending(self, planned: ImportedRun) -> None:
        started = planned.run.created_at
        ends = [t for t in (self.last_time,) if t is not None]
        if self.runtime is not None:
            ends.append(started + self.runtime)
        ended = max(ends) if ends else None
        if self.exit_code is None:
            status, reason = RunStatus.LOST, f"{REASON} without an exit record: the run died"
        else:
            status = RunStatus.COMPLETED if self.exit_code == 0 else RunStatus.FAILED
            reason = f"{REASON}, which exited with code {self.exit_code}"
        planned.finally_set.update(status=status, ended_at=ended, reason=reason)
        planned.session_updates[1] = {"status": status, "ended_at": ended, "reason": reason}
        if self.exit_code not in (None, 0):
            planned.session_updates[1]["exit_code"] = self.exit_code
        planned.warnings += self.problems


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


class WandbImporter(Importer):
    """W&B offline run folders."""

    name: ClassVar[str] = FORMAT
    description: ClassVar[str] = "W&B offline runs (a wandb folder or one run's folder)"
    priority: ClassVar[int] = 40

    @classmethod
    def detect(cls, path: Path) -> bool:
        return bool(run_files(path))

    def import_into(self, store: Store, path: Path) -> ImportReport:
        files = run_files(path)
        report = ImportReport()
        if not files:
            report.problems.append(f"no W&B run file (run-*.wandb) was found in {path}")
            return report
        return write_runs(store, (RunReader(p).plan() for p in files), report)
