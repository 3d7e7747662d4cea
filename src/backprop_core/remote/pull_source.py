"""The other side of ``pull``: what changed in this home since the puller's last pull.

Reads one JSON line on stdin (``PullRequest``: per run, the digest the puller last applied,
its highest event seq and its log sizes) and answers in JSON lines (docs/remote.md); stdin
closed before a request (the puller failed before asking) is answered with nothing:

- ``{"hello": {...}}``: protocol, version, this home, how many runs, whether rsync is here;
- per changed run: ``{"run": {...}, "sessions": [...], "checkpoints": [...], "digest": …}``,
  then ``events`` batches (framed by ``pull_wire``: columns, then the payloads as they are
  stored, checkpoints with ``origin_path`` added; from the puller's seq on), ``{"log": {...}}``
  chunks (from the puller's size on), and ``{"end": id}``;
- ``{"done": {...}}``.

Nothing here writes: the store is opened without liveness reconciliation, and a run whose
supervisor is gone is *shown* as lost without being marked so. Runs this home itself pulled
from elsewhere are not passed on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from backprop_core.errors import RunNotFound
from backprop_core.remote.pull_wire import dumps, encode, encode_events, widen_pipe
from backprop_core.settings.model import Settings
from backprop_core.store.bulk import collector_paused
from backprop_core.store.contract import EventRow, Store
from backprop_core.store.marks import RunMark
from backprop_core.store.records import (
    ACTIVE_STATUSES,
    LOCAL_ORIGIN,
    RunRecord,
    RunStatus,
    SessionRecord,
    run_to_dict,
    session_to_dict,
)

PROTOCOL = 2
EVENT_BATCH = 5000
CHECKPOINT = "checkpoint_saved"
LOG_CHUNK = 1 << 20


def origin_path(path: str, run: RunRecord) -> str:
    """A checkpoint path as announced, made absolute the way this machine resolves it."""
    p = Path(path).expanduser()
    if not p.is_absolute() and run.cwd:
        p = Path(run.cwd) / p
    return os.path.normpath(p)


def as_seen(
    run: RunRecord, sessions: list[SessionRecord], lost_after: float
) -> tuple[RunRecord, list[SessionRecord]]:
    """The run and its sessions, an active run whose supervisor is gone (by the heartbeat
    liveness of docs/store.md) shown as ``lost`` (what the next command here would record),
    without writing it."""
    from backprop_core.store.liveness import judge

    if run.status in ACTIVE_STATUSES and sessions:
        last = sessions[-1]
        verdict = judge(last, lost_after)
        if verdict.lost:
            # When it was last seen alive: the same on every pull, so an unchanged run stays so.
            ended = verdict.last_seen or last.ended_at or last.started_at
            sessions[-1] = replace(
                last,
                status=RunStatus.LOST,
                ended_at=last.ended_at or ended,
                reason=last.reason or verdict.reason,
            )
            run = replace(run, status=RunStatus.LOST, ended_at=ended, reason=verdict.reason)
    return run, sessions


def log_sizes(run_dir: str, sessions: Iterable[int | str]) -> dict[str, int]:
    """The sizes of the run's session logs that exist, by session number (as text)."""
    sizes: dict[str, int] = {}
    for number in sessions:
        try:  # the path as a string: a Path per run costs more than the stat
            sizes[str(number)] = os.stat(f"{run_dir}/session-{number}.log").st_size
        except OSError:
            continue
    return sizes


def _checkpoints(store: Store, run: RunRecord, with_files: bool) -> list[dict[str, Any]]:
    out = []
    for c in store.checkpoints(run.id):
        item: dict[str, Any] = {"path": c.path, "origin_path": origin_path(c.path, run)}
        if with_files:
            try:
                st = os.stat(item["origin_path"])
                item.update(size=st.st_size, mtime=st.st_mtime, dir=stat.S_ISDIR(st.st_mode))
            except OSError:
                item.update(size=None, mtime=None, dir=False)
        out.append(item)
    return out


def _with_origin(run: RunRecord, row: EventRow) -> EventRow:
    """A checkpoint event with the path resolved here added as ``origin_path``."""
    payload = json.loads(row[5])
    if isinstance(payload.get("path"), str):
        payload["origin_path"] = origin_path(payload["path"], run)
    return (*row[:5], dumps(payload))


def _cpu_seconds() -> float:
    """CPU time this process used, for the puller's report."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round(usage.ru_utime + usage.ru_stime, 3)


def hello(settings: Settings, runs: int) -> dict[str, Any]:
    from backprop_core.__about__ import __version__

    return {
        "protocol": PROTOCOL,
        "version": __version__,
        "home": str(settings.home),
        "runs": runs,
        "rsync": shutil.which("rsync") is not None,
    }


def digest(*parts: Any, text: str) -> str:
    """A run's digest: ``text`` (its mark) as it is, after its length, then ``parts`` as
    JSON."""
    data = text.encode()
    h = hashlib.sha1(b"%d:" % len(data))
    h.update(data)
    h.update(dumps(parts).encode())
    return h.hexdigest()


class Source:
    """Answers one pull request from this home's store."""

    def __init__(self, settings: Settings, store: Store, request: dict[str, Any]) -> None:
        self.settings = settings
        self.store = store
        self.have: dict[str, Any] = request.get("runs") or {}
        self.with_files = bool(request.get("with_checkpoints"))
        self.runs_dir = str(store.home.runs_dir)

    def messages(self) -> Iterator[dict[str, Any]]:
        marks = self.store.run_marks(LOCAL_ORIGIN)
        yield {"hello": hello(self.settings, len(marks))}
        changed = 0
        for mark in reversed(marks):  # oldest first, as they were made
            messages = self.run_messages(mark)
            first = next(messages, None)
            if first is None:
                continue
            changed += 1
            yield first
            yield from messages
        yield {"done": {"runs": len(marks), "changed": changed, "cpu_seconds": _cpu_seconds()}}

    def run_messages(self, mark: RunMark) -> Iterator[dict[str, Any]]:
        """Nothing when the puller has the run as it is here; else the run and what is new.
        The record is decoded only then, or when the run is active (whether its supervisor
        is still alive is part of what the puller must see) or its files are asked for."""
        store = self.store
        have = self.have.get(mark.id) or {}
        logs = log_sizes(f"{self.runs_dir}/{mark.id}", mark.sessions)
        run: RunRecord | None = None
        sessions: list[SessionRecord] = []
        seen = files = None
        try:
            if mark.status in ACTIVE_STATUSES or self.with_files:
                run, sessions = self._read(mark.id)
                run, sessions = as_seen(run, sessions, self.settings.liveness.lost_after_seconds)
                seen = [run.status.value, run.ended_at, run.reason]
                files = _checkpoints(store, run, True) if self.with_files else None
            key = digest(mark.event_seq, logs, files, seen, text=mark.mark)
            if key == have.get("digest"):
                return
            if run is None:
                run, sessions = self._read(mark.id)
        except RunNotFound:
            return  # deleted since it was listed
        # What is sent may be newer than the mark it is sent with: the next pull then sends
        # it again, never the other way round.
        seq = mark.event_seq
        yield {
            "run": run_to_dict(run),
            "sessions": [session_to_dict(s) for s in sessions],
            "checkpoints": files if files is not None else _checkpoints(store, run, False),
            "digest": key,
            "seq": seq,
            "logs": logs,
        }
        after = int(have.get("seq") or 0)
        while after < seq:
            rows = store.event_rows(run.id, after_seq=after, limit=EVENT_BATCH)
            if not rows:
                break
            yield {"events": [_with_origin(run, r) if r[1] == CHECKPOINT else r for r in rows]}
            after = rows[-1][0]
        local_logs: dict[str, int] = have.get("logs") or {}
        for number, size in logs.items():
            yield from self._log(run.id, int(number), int(local_logs.get(number, 0)), size)
        yield {"end": run.id}

    def _read(self, run_id: str) -> tuple[RunRecord, list[SessionRecord]]:
        return self.store.get_run(run_id), self.store.sessions(run_id)

    def _log(self, run_id: str, number: int, start: int, size: int) -> Iterator[dict[str, Any]]:
        reset = start > size  # the log was replaced by a shorter one: send it all again
        offset = 0 if reset else start
        if offset >= size and not reset:
            return
        with open(self.store.home.session_log(run_id, number), "rb") as fh:
            fh.seek(offset)
            while offset < size:
                data = fh.read(min(LOG_CHUNK, size - offset))
                if not data:
                    break
                yield {
                    "log": {
                        "session": number,
                        "offset": offset,
                        "reset": reset,
                        "data": base64.b64encode(data).decode("ascii"),
                    }
                }
                offset += len(data)
                reset = False


def serve_pull(settings: Settings, stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """Answer the pull request on ``stdin`` (see the module docstring)."""
    from backprop_core.store.opening import open_store

    line = stdin.readline()
    if not line:  # the puller went away before asking (it failed there): nothing to answer
        return
    request = json.loads(line)
    widen_pipe(stdout)

    def send(message: dict[str, Any]) -> None:
        if "events" in message:
            stdout.write(encode_events(message["events"]))
        else:
            stdout.write(encode(message))

    if not Path(settings.home).is_dir():  # nothing recorded here: create nothing either
        send({"hello": hello(settings, 0)})
        send({"done": {"runs": 0, "changed": 0}})
    else:
        with open_store(settings, reconcile=False) as store, collector_paused():
            for message in Source(settings, store, request).messages():
                send(message)
    stdout.flush()


def main() -> None:
    """``backprop remote-helper pull-source`` with no options, without the command line's
    start-up (``cli/entry.py``): settings from the config files and environment."""
    import sys

    from backprop_core.render.terminal import terminal_text
    from backprop_core.settings import resolve_with_warnings

    settings, warnings = resolve_with_warnings()
    for warning in warnings:
        sys.stderr.write(f"backprop: warning: {terminal_text(warning)}\n")
    serve_pull(settings, sys.stdin.buffer, sys.stdout.buffer)
