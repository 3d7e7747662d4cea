"""Reading the Node tool's ``experiments.json`` (``~/.backprop/experiments.json``) into runs.

Records are keyed by id, each with ``id, scriptPath, status, startTime, endTime, name,
checkpoints[], lastStep, lastLoss, lastCheckpoint``. Times may be ISO strings or epoch
milliseconds. Runs keep their Node id when it is a valid backprop id, so importing the same file
twice finds them already there and adds nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from backprop_core.errors import RunNotFound, UsageError
from backprop_core.events.event import Event
from backprop_core.events.ingest import as_number
from backprop_core.store.contract import DuplicateRun, Store
from backprop_core.store.home import is_valid_run_id
from backprop_core.store.records import RunRecord, RunStatus, SessionRecord

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


@dataclass
class ImportReport:
    """What an import did: run ids imported, entries skipped, and problems found."""

    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse_time(value: Any) -> float | None:
    """ISO 8601 text or epoch milliseconds (seconds if the number is small) → unix seconds."""
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
            except ValueError:
                return None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            return parsed.timestamp()
    if isinstance(value, (int, float)):
        return float(value) / 1000.0 if abs(value) > 1e11 else float(value)
    return None


def _records(data: Any) -> list[Mapping[str, Any]]:
    if isinstance(data, Mapping) and isinstance(data.get("experiments"), (Mapping, list)):
        data = data["experiments"]
    if isinstance(data, Mapping):
        out: list[Mapping[str, Any]] = []
        for key, value in data.items():
            if isinstance(value, Mapping):
                out.append({"id": key, **value})
        return out
    if isinstance(data, list):
        return [r for r in data if isinstance(r, Mapping)]
    raise UsageError("this is not a Node-tool experiments.json", hint="expected an object of runs")


def run_id_for(node_id: str) -> str:
    """The Node id when it is a valid run id, else a stable id derived from it."""
    if is_valid_run_id(node_id):
        return node_id
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", node_id).strip("-.")[:80] or "run"
    digest = hashlib.sha1(node_id.encode()).hexdigest()[:6]
    return f"node-{clean}-{digest}"


def _checkpoints(record: Mapping[str, Any], fallback: float) -> list[Event]:
    raw = list(record.get("checkpoints") or [])
    last = record.get("lastCheckpoint")
    events = []
    paths = []
    for item in raw:
        if isinstance(item, str):
            item = {"path": item}
        if not isinstance(item, Mapping) or not isinstance(item.get("path"), str):
            continue
        step = item.get("step")
        t = parse_time(item.get("time") or item.get("timestamp") or item.get("savedAt"))
        payload: dict[str, Any] = {"path": item["path"]}
        if isinstance(step, int):
            payload["step"] = step
        if isinstance(item.get("loss"), (int, float)):
            payload["metrics"] = {"loss": item["loss"]}
        paths.append(item["path"])
        events.append(
            Event(
                "checkpoint_saved", t or fallback, step if isinstance(step, int) else None, payload
            )
        )
    if isinstance(last, str) and last and last not in paths:
        events.append(Event("checkpoint_saved", fallback, None, {"path": last}))
    return events


def import_record(store: Store, record: Mapping[str, Any], report: ImportReport) -> None:
    node_id = str(record.get("id") or "")
    if not node_id:
        report.problems.append("a record without an id was skipped")
        return
    run_id = run_id_for(node_id)
    try:
        store.get_run(run_id)
        report.skipped.append(run_id)
        return
    except RunNotFound:
        pass
    raw_status = str(record.get("status") or "").strip().lower()
    status = STATUS_MAP.get(raw_status, RunStatus.LOST)
    started = parse_time(record.get("startTime"))
    ended = parse_time(record.get("endTime"))
    created = started or ended or 0.0
    script = record.get("scriptPath")
    run = RunRecord(
        id=run_id,
        status=status,
        created_at=created,
        name=record.get("name") if isinstance(record.get("name"), str) else None,
        tags={"imported-from": "node"},
        script=script if isinstance(script, str) else None,
        started_at=started,
        ended_at=ended,
        reason=f"imported from the Node tool (status '{raw_status or 'unknown'}')",
        environment={"node_record": json.loads(json.dumps(dict(record), default=str))},
    )
    try:
        store.create_run(run)
    except DuplicateRun:
        report.skipped.append(run_id)
        return
    store.add_session(
        SessionRecord(run_id, 1, status, started or created, ended_at=ended, reason=run.reason)
    )
    events = _checkpoints(record, ended or created)
    last_step = record.get("lastStep")
    last_loss = as_number(record.get("lastLoss"))
    if isinstance(last_step, int) and last_loss is not None:
        events.append(
            Event(
                "metrics",
                ended or created,
                last_step,
                {"step": last_step, "data": {"loss": last_loss}},
            )
        )
    elif last_loss is not None:
        events.append(Event("metrics", ended or created, None, {"data": {"loss": last_loss}}))
    if events:
        store.append_events(run_id, events)
    if isinstance(last_step, int):
        store.update_run(run_id, last_step=last_step)
    report.imported.append(run_id)


def import_file(store: Store, path: Path) -> ImportReport:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UsageError(
            f"{path} does not exist", hint="give the path of experiments.json"
        ) from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(
            f"cannot read {path}: {exc}", hint="is it the Node tool's experiments.json?"
        ) from exc
    report = ImportReport()
    for record in _records(data):
        import_record(store, record, report)
    return report
