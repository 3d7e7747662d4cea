"""Reading the Node tool's ``experiments.json`` (``~/.backprop/experiments.json``) into runs.

Records are keyed by id, each with ``id, scriptPath, status, startTime, endTime, name,
checkpoints[], lastStep, lastLoss, lastCheckpoint``. Times may be ISO strings or epoch
milliseconds. Runs keep their Node id when it is a valid backprop id, so importing the same file
twice finds them already there and adds nothing.

Each record is checked whole before anything is written: a record with a value backprop cannot
keep (a time out of range, a step beyond 64 bits, ``checkpoints`` that is not a list…) is
rejected with one line naming it, and the others are imported. A run is written all or nothing:
if recording it fails half-way, what was written is removed again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
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
    as_number,
    as_step,
    imported_tags,
    is_valid_run_id,
    source_record,
    write_run,
)
from backprop_node.node_file import MAX_DEPTH, depth, read_entries

STATUS_MAP: dict[str, RunStatus] = {
    "completed": RunStatus.COMPLETED,
    "complete": RunStatus.COMPLETED,
    "success": RunStatus.COMPLETED,
    "succeeded": RunStatus.COMPLETED,
    "done": RunStatus.COMPLETED,
    "finished": RunStatus.COMPLETED,
    "failed": RunStatus.FAILED,
    "error": RunStatus.FAILED,
    "errored": RunStatus.FAILED,
    "crashed": RunStatus.FAILED,
    "timeout": RunStatus.TIMEBOXED,
    "timed_out": RunStatus.TIMEBOXED,
    "timedout": RunStatus.TIMEBOXED,
    "time_limit": RunStatus.TIMEBOXED,
    "timeboxed": RunStatus.TIMEBOXED,
    "stopped": RunStatus.INTERRUPTED,
    "interrupted": RunStatus.INTERRUPTED,
    "cancelled": RunStatus.INTERRUPTED,
    "canceled": RunStatus.INTERRUPTED,
    "killed": RunStatus.KILLED,
    "oom": RunStatus.KILLED,
    "refused": RunStatus.REFUSED,
    # The Node process that supervised these is not ours to watch: they can only be lost.
    "running": RunStatus.LOST,
    "queued": RunStatus.LOST,
    "pending": RunStatus.LOST,
    "paused": RunStatus.LOST,
}


class Rejected(ValueError):
    """A record that cannot be imported; the message says why."""


#: 9999-12-31T23:59:59Z: the last time a date can be shown for.
LATEST_TIME = 253_402_300_799.0


def parse_time(value: Any) -> float | None:
    """ISO 8601 text or epoch milliseconds (seconds if the number is small) → unix seconds;
    ``None`` for what is neither."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            value = float(text)
        else:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=timezone.utc)
                return parsed.timestamp()
            except (ValueError, OverflowError):
                return None
    if isinstance(value, (int, float)):
        try:
            return float(value) / 1000.0 if abs(value) > 1e11 else float(value)
        except OverflowError:
            return None
    return None


def _time(record: Mapping[str, Any], *names: str) -> float | None:
    """The first of ``names`` present in ``record`` as a time; ``Rejected`` when it is not one."""
    for name in names:
        value = record.get(name)
        if value is None or value == "":
            continue
        t = parse_time(value)
        if t is None or not 0.0 <= t <= LATEST_TIME:  # NaN fails the comparison too
            raise Rejected(f"{name} {_show(value)} is not a time (ISO 8601 or epoch milliseconds)")
        return t
    return None


def _step(record: Mapping[str, Any], name: str) -> int | None:
    value = record.get(name)
    if value is None:
        return None
    step = as_step(value)
    if step is None:
        raise Rejected(f"{name} {_show(value)} is not a step (an integer of at most 64 bits)")
    return step


def _show(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def run_id_for(node_id: str) -> str:
    """The Node id when it is a valid run id, else a stable id derived from it."""
    if is_valid_run_id(node_id):
        return node_id
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", node_id).strip("-.")[:80] or "run"
    digest = hashlib.sha1(node_id.encode()).hexdigest()[:6]
    return f"node-{clean}-{digest}"


def _checkpoints(record: Mapping[str, Any], fallback: float) -> list[Event]:
    raw = record.get("checkpoints")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise Rejected(f'"checkpoints" is {_show(raw)}, not a list')
    last = record.get("lastCheckpoint")
    events = []
    paths = []
    for n, item in enumerate(raw, start=1):
        if isinstance(item, str):
            item = {"path": item}
        if not isinstance(item, Mapping) or not isinstance(item.get("path"), str):
            raise Rejected(f"checkpoint {n} has no path")
        try:
            step = _step(item, "step")
            t = _time(item, "time", "timestamp", "savedAt")
        except Rejected as exc:
            raise Rejected(f"checkpoint {n}: {exc}") from None
        payload: dict[str, Any] = {"path": item["path"]}
        if step is not None:
            payload["step"] = step
        loss = as_number(item.get("loss"))
        if loss is not None:
            payload["metrics"] = {"loss": loss}
        paths.append(item["path"])
        events.append(Event("checkpoint_saved", t or fallback, step, payload))
    if isinstance(last, str) and last and last not in paths:
        events.append(Event("checkpoint_saved", fallback, None, {"path": last}))
    return events


@dataclass
class Plan:
    """Everything one record becomes, checked before anything is written."""

    run: RunRecord
    session: SessionRecord
    events: list[Event]
    last_step: int | None


def plan_record(node_id: str, record: Mapping[str, Any], source: Path) -> Plan:
    """What ``record`` becomes; ``Rejected`` if any of it cannot be kept."""
    if depth(record) > MAX_DEPTH:
        raise Rejected(f"it is nested more than {MAX_DEPTH} levels deep")
    raw_status = record.get("status")
    raw_status = raw_status.strip().lower() if isinstance(raw_status, str) else ""
    status = STATUS_MAP.get(raw_status, RunStatus.LOST)
    started = _time(record, "startTime")
    ended = _time(record, "endTime")
    created = started or ended or 0.0
    script = record.get("scriptPath")
    name = record.get("name")
    run = RunRecord(
        id=run_id_for(node_id),
        status=status,
        created_at=created,
        name=name if isinstance(name, str) else None,
        tags=imported_tags("node"),
        script=script if isinstance(script, str) else None,
        started_at=started,
        ended_at=ended,
        reason=f"imported from the Node tool (status '{raw_status or 'unknown'}')",
        environment={
            "node_record": json.loads(json.dumps(dict(record), default=str)),
            "imported_from": source_record("node", source, id=node_id),
        },
    )
    session = SessionRecord(
        run.id, 1, status, started or created, ended_at=ended, reason=run.reason
    )
    events = _checkpoints(record, ended or created)
    last_step = _step(record, "lastStep")
    last_loss = as_number(record.get("lastLoss"))
    if last_loss is not None:
        payload: dict[str, Any] = {"data": {"loss": last_loss}}
        if last_step is not None:
            payload["step"] = last_step
        events.append(Event("metrics", ended or created, last_step, payload))
    return Plan(run, session, events, last_step)


def _node_id(label: str, record: Mapping[str, Any]) -> str:
    node_id = record.get("id", label if not label.startswith("#") else None)
    if isinstance(node_id, int) and not isinstance(node_id, bool):
        node_id = str(node_id)
    if not isinstance(node_id, str) or not node_id:
        raise Rejected("it has no id")
    return node_id


def import_record(
    store: Store, label: str, record: Any, report: ImportReport, source: Path
) -> None:
    try:
        if not isinstance(record, Mapping):
            raise Rejected(f"it is {_show(record)}, not a run record")
        plan = plan_record(_node_id(label, record), record, source)
    except Rejected as exc:
        report.problems.append(f"record '{label}' was not imported: {exc}")
        return
    planned = ImportedRun(plan.run, [plan.session], [plan.events], f"record '{label}'")
    if plan.last_step is not None:
        planned.finally_set["last_step"] = plan.last_step
    write_run(store, planned, report)


def import_file(store: Store, path: Path) -> ImportReport:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(
            f"{path} does not exist", hint="give the path of experiments.json"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"cannot read {path}: {exc}", hint="is it the Node tool's experiments.json?"
        ) from exc
    try:
        entries, problems = read_entries(text)
    except ValueError as exc:
        raise UsageError(
            f"cannot read {path}: {exc}", hint="is it the Node tool's experiments.json?"
        ) from exc
    report = ImportReport(problems=problems)
    for label, record in entries:
        import_record(store, label, record, report, path)
    return report


def json_file_head(path: Path, size: int = 65_536) -> str:
    """The start of ``path`` as text when it is a file that may hold JSON, else ``""``."""
    try:
        if not path.is_file():
            return ""
        with open(path, "rb") as fh:
            head = fh.read(size)
    except OSError:
        return ""
    return head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")


class NodeImporter(Importer):
    """The Node tool's ``experiments.json``."""

    name: ClassVar[str] = "node"
    description: ClassVar[str] = "the Node tool's experiments.json"
    #: Any JSON object or array may be one: the other formats are asked first.
    priority: ClassVar[int] = 1000

    @classmethod
    def detect(cls, path: Path) -> bool:
        return json_file_head(path)[:1] in ("{", "[")

    def import_into(self, store: Store, path: Path) -> ImportReport:
        return import_file(store, path)
