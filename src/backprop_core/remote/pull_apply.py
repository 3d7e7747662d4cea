"""This side of ``pull``: what the other side sent, applied to the local store run by run.

Every step is idempotent and keyed by what the local store already holds (events by ``seq``,
sessions by number, logs by size), so a pull cut off anywhere, even by SIGKILL, leaves a
consistent store and the next pull completes it. A run is finished (``end``) by writing the
host's record over the local one, which is why counters and derived fields always match the
host's after a pull.

Pulled runs carry ``origin`` (the host). Their checkpoint records point into the local run
folder (``runs/<id>/…`` for files the host kept in its run folder, ``runs/<id>/remote-files/
<absolute path>`` for the others), where ``--with-checkpoints`` copies them; the host's path is
kept in the event as ``origin_path``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from itertools import chain, islice, repeat
from pathlib import Path, PurePosixPath
from typing import Any

from backprop_core.errors import RemoteError, RunNotFound
from backprop_core.events.event import Event
from backprop_core.events.ingest import MetricLines
from backprop_core.remote.pull_logs import LogWriter
from backprop_core.remote.pull_source import PROTOCOL, log_sizes
from backprop_core.remote.pull_wire import Events
from backprop_core.store.contract import DuplicateRun, Store
from backprop_core.store.home import is_valid_run_id
from backprop_core.store.records import (
    RunRecord,
    SessionRecord,
    run_from_dict,
    session_from_dict,
)

_NUMBERS = {int, float}  # metric values the columnar path takes (a bool is neither)
#: Fields a new pulled run starts from zero: the store counts them up as it records.
_COUNTED = {
    "session_count": 0,
    "checkpoint_count": 0,
    "active_seconds": 0.0,
    "last_metrics": {},
    "summary": {},
    "last_step": None,
    "done": False,
}


@dataclass(frozen=True)
class FileNeed:
    """A checkpoint file (or folder) on the host, and where its copy goes here."""

    run_id: str
    origin_path: str
    local_path: Path
    size: int | None
    mtime: float | None
    is_dir: bool


@dataclass
class PullReport:
    """What one pull did: what the other side holds, and what changed here."""

    host: str
    remote_home: str = ""
    remote_runs: int = 0
    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    events: int = 0
    log_bytes: int = 0
    files: int = 0
    file_bytes: int = 0
    seconds: float = 0.0
    remote_cpu_seconds: float | None = None

    @property
    def unchanged(self) -> int:
        return max(0, self.remote_runs - len(self.new) - len(self.updated) - len(self.skipped))

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "remote_home": self.remote_home,
            "remote_runs": self.remote_runs,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "events": self.events,
            "log_bytes": self.log_bytes,
            "files": self.files,
            "file_bytes": self.file_bytes,
            "seconds": round(self.seconds, 3),
            "remote_cpu_seconds": self.remote_cpu_seconds,
        }


def _clean_parts(path: PurePosixPath) -> list[str]:
    return [p for p in path.parts if p not in ("/", ".", "..")]


def local_copy_path(run_dir: Path, remote_run_dir: str, origin: str) -> Path:
    """Where the copy of the host's ``origin`` goes: under ``run_dir`` either way."""
    prefix = remote_run_dir + "/"
    if origin.startswith(prefix):  # the usual case, without a PurePosixPath per part
        parts = origin[len(prefix) :].split("/")
        if not {"", ".", ".."} & set(parts):
            return run_dir.joinpath(*parts)
    path = PurePosixPath(origin)
    try:
        return run_dir.joinpath(*_clean_parts(path.relative_to(remote_run_dir)))
    except ValueError:
        return run_dir.joinpath("remote-files", *_clean_parts(path))


def _asking_again_for_lost_logs(
    entry: dict[str, Any], run_dir: str, logs: dict[str, int]
) -> dict[str, Any]:
    """``entry`` as the request says it, but for the logs here that lost bytes since it was
    applied (cut short, or removed): those are asked for from their start, which fills in
    what is missing after the bytes still here, and the run is sent whether it changed
    there or not."""
    here = log_sizes(run_dir, logs)
    intact = {number: size for number, size in logs.items() if here.get(number, -1) >= size}
    if len(intact) == len(logs):
        return entry
    return {**{k: v for k, v in entry.items() if k != "digest"}, "logs": intact}


class PullSink:
    """Applies one pull's messages to ``store``; ``applied`` holds, for the runs fully applied,
    what the next request says about them."""

    def __init__(self, store: Store, host: str, *, with_files: bool) -> None:
        self.store = store
        self.host = host
        self.with_files = with_files
        self.report = PullReport(host)
        self.applied: dict[str, dict[str, Any]] = {}
        #: ``applied`` as far as the store has committed it (see ``Store.batch``).
        self.stored: dict[str, dict[str, Any]] = {}
        self.needs: list[FileNeed] = []
        self.rsync_there = False
        self._header: dict[str, Any] | None = None
        self._seq = 0
        self._complete = True
        #: Where the current run's checkpoint copies go here, by their path on the host.
        self._copies: dict[str, Path] = {}
        self._remote_runs = "runs"  # the host's runs folder (its home's, once it says hello)
        self.logs = LogWriter()
        #: Runs ended (and complete but for their logs) since the last ``settle``, with what
        #: ``applied`` will say of them; runs a log chunk of which was refused.
        self._ended: dict[str, dict[str, Any]] = {}
        self._refused: set[str] = set()
        #: For a run new here, the paths of the checkpoints this pull recorded for it (then
        #: its only ones); ``None`` when the store may hold others.
        self._recorded: set[str] | None = None

    def request(self, applied: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """What to ask for: per run pulled from this host before and still here, what the last
        pull applied (nothing known: everything comes again, and what is here is skipped)."""
        runs_dir = str(self.store.home.runs_dir)
        runs = {}
        for mark in self.store.run_marks(self.host):
            entry = applied.get(mark.id, {})
            logs = entry.get("logs")
            if logs:
                entry = _asking_again_for_lost_logs(entry, f"{runs_dir}/{mark.id}", logs)
            runs[mark.id] = entry
        return {"protocol": PROTOCOL, "with_checkpoints": self.with_files, "runs": runs}

    def apply(self, message: dict[str, Any]) -> str | None:
        """Apply one message; the id of the run it finished, if it was an ``end``."""
        if "events" in message:
            self._events(message["events"])
        elif "log" in message:
            self._log(message["log"])
        elif "run" in message:
            self._run(message)
        elif "end" in message:
            return self._end()
        elif "hello" in message:
            self._hello(message["hello"])
        elif "done" in message:
            self.report.remote_runs = int(message["done"]["runs"])
            self.report.remote_cpu_seconds = message["done"].get("cpu_seconds")
        return None

    # messages ----------------------------------------------------------------------------------
    def _hello(self, hello: dict[str, Any]) -> None:
        if hello.get("protocol") != PROTOCOL:
            raise RemoteError(
                f"backprop on {self.host} ({hello.get('version')}) pulls another way",
                hint="use the same backprop version on both machines",
            )
        self.report.remote_home = str(hello.get("home") or "")
        self._remote_runs = str(PurePosixPath(self.report.remote_home) / "runs")
        self.rsync_there = bool(hello.get("rsync"))

    def _run(self, message: dict[str, Any]) -> None:
        record = message["run"]
        run_id = str(record["id"])
        self._header, self._complete = message, True
        self._copies, self._recorded = {}, None
        existing: RunRecord | None
        try:
            existing = self.store.get_run(run_id) if is_valid_run_id(run_id) else None
        except RunNotFound:
            existing = None
        if not is_valid_run_id(run_id) or (existing is not None and existing.origin != self.host):
            # Same id as a run made here (or pulled from elsewhere): most likely the same run
            # copied between homes; it is kept as it is, the host's is not pulled.
            self.report.skipped.append(run_id)
            self._header = None
            return
        if existing is None:
            try:
                self.store.create_run(run_from_dict({**record, **_COUNTED, "origin": self.host}))
                self._recorded = set()
            except DuplicateRun:
                pass
            self.report.new.append(run_id)
            self._seq = 0
        else:
            self.report.updated.append(run_id)
            self._seq = self.store.last_event_seq(run_id)
        here = {s.number: s for s in self.store.sessions(run_id)} if existing else {}
        for data in message["sessions"]:
            session = session_from_dict({**data, "run_id": run_id})
            old = here.get(session.number)
            if old is None:
                self.store.add_session(session)
            elif old != session:
                changes = {
                    k: getattr(session, k)
                    for k in SessionRecord.__dataclass_fields__
                    if k not in ("run_id", "number")
                }
                self.store.update_session(run_id, session.number, **changes)

    def _events(self, batch: Events) -> None:
        header = self._header
        if header is None:
            return
        run_id = str(header["run"]["id"])
        items: list[Event | MetricLines] = []
        lines = self._metric_lines(batch)
        count = 0
        if lines is not None:  # the usual batch: what a training loop logs, then a few events
            items.append(lines)
            count = len(lines)
        for seq, kind, t, step, session, text, payload in islice(batch.rows(), count, None):
            if seq <= self._seq + count:
                continue  # already here
            if seq != self._seq + count + 1:  # this store lost events since: ask for all next time
                self._complete = False
                break
            count += 1
            data = payload.get("data") if kind == "metrics" else None
            if isinstance(data, dict) and set(map(type, data.values())) <= _NUMBERS:
                # The store's columnar path, as for metrics lines a script prints.
                if lines is None or lines.session != session:
                    lines = MetricLines(session)
                    items.append(lines)
                lines.times.append(t)
                lines.steps.append(step)
                lines.data.append(data)
                lines.texts.append(text)
                continue
            lines = None
            payload.pop("event", None)
            if kind == "checkpoint_saved":
                origin = payload.get("origin_path")
                if isinstance(origin, str):
                    payload["path"] = str(self._local_copy(run_id, origin))
                    if self._recorded is not None:
                        self._recorded.add(payload["path"])
                else:
                    self._recorded = None
            items.append(Event(kind, t, step, payload, session))
        if items:
            self.store.append_batch(run_id, items)
            self._seq += count
            self.report.events += count

    def _metric_lines(self, batch: Events) -> MetricLines | None:
        """The batch's first events as one ``MetricLines`` when they are what a training loop
        logs: the next events in order, ``metrics`` of one session with numeric ``data``.
        Decided column by column, at C speed, instead of event by event."""
        kinds = batch.kinds
        n = next((i for i, kind in enumerate(kinds) if kind != "metrics"), len(kinds))
        first = self._seq + 1
        if not n or batch.seqs[:n] != list(range(first, first + n)):
            return None
        sessions = batch.sessions[:n]
        if sessions.count(sessions[0]) != n:
            return None
        payloads = batch.payloads[:n]
        if set(map(type, payloads)) != {dict}:
            return None
        datas: list[Any] = list(map(dict.get, payloads, repeat("data")))
        if set(map(type, datas)) != {dict}:
            return None
        values = chain.from_iterable(map(dict.values, datas))
        if set(map(type, values)) - _NUMBERS:
            return None
        return MetricLines(sessions[0], batch.times[:n], batch.steps[:n], datas, batch.texts[:n])

    def _local_copy(self, run_id: str, origin: str) -> Path:
        """Where the copy of the host's ``origin`` goes (``local_copy_path``), for this run."""
        path = self._copies.get(origin)
        if path is None:
            remote_run_dir = f"{self._remote_runs}/{run_id}"
            run_dir = self.store.home.run_dir(run_id)
            path = self._copies[origin] = local_copy_path(run_dir, remote_run_dir, origin)
        return path

    def _log(self, chunk: dict[str, Any]) -> None:
        if self._header is None:
            return
        run_id = str(self._header["run"]["id"])
        path = self.store.home.session_log(run_id, int(chunk["session"]))
        data = base64.b64decode(chunk["data"])
        self.logs.append(run_id, path, int(chunk["offset"]), data, reset=bool(chunk.get("reset")))

    def settle(self) -> None:
        """Wait for the log chunks given so far (``LogWriter``); the runs ended since become
        ``applied``, but those a chunk of which was refused (the local log lost bytes since
        the request: the next pull sends it again)."""
        for run_id, added in self.logs.settle().items():
            if added is None:
                self._refused.add(run_id)
            else:
                self.report.log_bytes += added
        for run_id, entry in self._ended.items():
            if run_id not in self._refused:
                self.applied[run_id] = entry
        self._refused.difference_update(self._ended)
        self._ended.clear()

    def close(self) -> None:
        self.logs.close()

    def _end(self) -> str | None:
        header, self._header = self._header, None
        if header is None:
            return None
        record = run_from_dict({**header["run"], "origin": self.host})
        run_id = record.id
        origins = [c["origin_path"] for c in header["checkpoints"]]
        there = {origin: self._local_copy(run_id, origin) for origin in origins}
        kept = {str(p) for p in there.values()}
        gone: list[str] = []
        if self._recorded is None or not self._recorded <= kept:  # else none can be gone
            gone = [c.path for c in self.store.checkpoints(run_id) if c.path not in kept]
        if gone:  # deleted there (gc): forget them here too
            self.store.delete_checkpoints(run_id, gone)
        changes = {k: getattr(record, k) for k in RunRecord.__dataclass_fields__ if k != "id"}
        self.store.update_run(run_id, **changes)
        if self.with_files:
            for c in header["checkpoints"]:
                if c.get("size") is not None:
                    self.needs.append(
                        FileNeed(
                            run_id,
                            c["origin_path"],
                            there[c["origin_path"]],
                            c["size"],
                            c.get("mtime"),
                            bool(c.get("dir")),
                        )
                    )
        if self._complete:
            self._ended[run_id] = {
                "digest": header["digest"],
                "seq": self._seq,
                "logs": header["logs"],
            }
        return run_id
