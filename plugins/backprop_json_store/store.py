"""``JsonStore``: every write is a read-modify-write of ``experiments.json`` under an exclusive
``flock``, written to a temp file, fsynced and renamed into place, so no writer ever overwrites
another's changes and a reader never sees half a file.

Events go to ``runs/<id>/events.jsonl``. The index records how many bytes of that file are
committed; a writer first cuts the file back to that length (dropping lines a killed writer left
behind) and the index rename is the commit point, so events and index always agree.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

from backprop_core import (
    AmbiguousRun,
    CheckpointRecord,
    Event,
    MetricSeries,
    RunFilter,
    RunNotFound,
    RunRecord,
    SessionRecord,
    Store,
    StoredEvent,
    StoreError,
)
from backprop_core.plugin_kit import (
    RESOLVE_HINT,
    Digest,
    DuplicateRun,
    atomic_write,
    check_folder_writable,
    check_run_id,
    checkpoint_from_dict,
    checkpoint_key,
    checkpoint_to_dict,
    coerce_changes,
    digest,
    event_from_dict,
    event_to_dict,
    exclusive_lock,
    latest_per_key,
    move_aside,
    os_error_to_store_error,
    run_from_dict,
    run_to_dict,
    screen_batch,
    session_from_dict,
    session_to_dict,
    supersede_cutoffs,
    warn_moved_aside,
)
from backprop_json_store.derived import fold_sessions, series_of, upgrade
from backprop_json_store.heartbeats import read_beat, write_beat
from backprop_json_store.index_file import (
    GENERATION,
    INDEX_NAME,
    Index,
    empty_index,
    parse_index,
    run_ids,
    unreadable,
)
from backprop_json_store.run_filter import matches

T = TypeVar("T")


class JsonStore(Store):
    name: ClassVar[str] = "json"

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.path = self.home.root / INDEX_NAME
        self.lock_path = self.home.locks_dir / "json-store.lock"
        self._cache: tuple[tuple[int, int], Index] | None = None
        self._refuse_foreign()

    def _refuse_foreign(self) -> None:
        """Someone else's JSON at the index path (``ForeignFile``) stops every command at once,
        before it reads or writes anything, in one line."""
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(64)
        except OSError:
            return  # missing: a new store; unreadable: reported when it is read
        if GENERATION.match(head) is None:
            self._snapshot()

    @classmethod
    def run_ids_in(cls, home: Path) -> set[str] | None:
        return run_ids(Path(home) / INDEX_NAME)

    def _snapshot(self) -> Index:
        """The index for reading, parsed again only when it changed. Every write bumps the
        ``generation`` that opens the file, so reading its first bytes tells. Callers copy
        what they hand out."""
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(64)
                inode = os.fstat(fh.fileno()).st_ino
        except FileNotFoundError:
            return empty_index()
        except OSError as exc:
            raise os_error_to_store_error(exc, "read the run store") from exc
        match = GENERATION.match(head)
        if match is None:
            return self._load()
        key = (inode, int(match.group(1)))
        if self._cache is None or self._cache[0] != key:
            index = self._load()
            self._cache = ((inode, int(index.get("generation", -1))), index)
        return self._cache[1]

    # file access ---------------------------------------------------------------------------
    def _load(self) -> Index:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return empty_index()
        except OSError as exc:
            raise os_error_to_store_error(exc, "read the run store") from exc
        try:
            return upgrade(parse_index(raw, self.path))
        except StoreError:  # someone else's JSON: left exactly as it is
            raise
        except (ValueError, UnicodeDecodeError):
            backup = move_aside(self.home, self.path, probe=unreadable)
            if backup is not None:
                warn_moved_aside(self.path, backup)
            return (
                self._load() if self.path.exists() and not unreadable(self.path) else empty_index()
            )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Index]:
        """The index, locked for writing; saved when the block ends without an error."""
        try:
            lock = exclusive_lock(self.lock_path)
            lock.__enter__()
        except OSError as exc:
            raise os_error_to_store_error(exc, "lock the run store") from exc
        try:
            index = self._load()
            yield index
            # ``generation`` first: readers check it from the file's first bytes.
            stamped = {"generation": int(index.get("generation", 0)) + 1}
            stamped.update((k, v) for k, v in index.items() if k != "generation")
            data = json.dumps(stamped, default=str, separators=(",", ":")).encode()
            try:
                atomic_write(self.path, data)
            except OSError as exc:
                raise os_error_to_store_error(exc, "write the run store") from exc
        finally:
            lock.__exit__(None, None, None)

    def _mutate(self, fn: Callable[[Index], T]) -> T:
        with self._locked() as index:
            return fn(index)

    def check_writable(self) -> None:
        check_folder_writable(self.home)
        self._mutate(lambda index: None)

    # runs ----------------------------------------------------------------------------------
    @staticmethod
    def _run(index: Index, run_id: str) -> dict[str, Any]:
        run = index["runs"].get(run_id)
        if run is None:
            raise RunNotFound(f"no run with id {run_id}", hint="see: backprop list")
        return dict(run)

    def create_run(self, run: RunRecord) -> RunRecord:
        check_run_id(run.id)

        def add(index: Index) -> None:
            if run.id in index["runs"]:
                raise DuplicateRun(f"a run with id {run.id} already exists")
            index["runs"][run.id] = run_to_dict(run)

        self._mutate(add)
        return run

    def update_run(self, run_id: str, **changes: Any) -> RunRecord:
        changes = coerce_changes(RunRecord, changes)
        changes.pop("id", None)

        def update(index: Index) -> RunRecord:
            run = run_from_dict(self._run(index, run_id))
            for key, value in changes.items():
                setattr(run, key, value)
            index["runs"][run_id] = run_to_dict(run)
            return run

        return self._mutate(update)

    def get_run(self, run_id: str) -> RunRecord:
        return run_from_dict(copy.deepcopy(self._run(self._snapshot(), run_id)))

    def _newest_first(self, runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(runs, key=lambda r: (r["created_at"], r["id"]), reverse=True)

    def resolve(self, ref: str) -> RunRecord:
        if not ref:
            raise RunNotFound("no run matches an empty reference", hint=RESOLVE_HINT)
        runs = self._snapshot()["runs"]
        if ref in runs:
            return run_from_dict(copy.deepcopy(runs[ref]))
        found = (
            [r for i, r in runs.items() if i.startswith(ref)]
            or [r for r in runs.values() if r.get("name") == ref]
            or [r for i, r in runs.items() if "-" not in ref and i.endswith("-" + ref)]
        )
        if not found:
            raise RunNotFound(f"no run matches '{ref}'", hint=RESOLVE_HINT)
        if len(found) > 1:
            raise AmbiguousRun(ref, [r["id"] for r in self._newest_first(found)])
        return run_from_dict(copy.deepcopy(found[0]))

    def list_runs(self, flt: RunFilter | None = None) -> list[RunRecord]:
        flt = flt or RunFilter()
        runs = self._newest_first([r for r in self._snapshot()["runs"].values() if matches(r, flt)])
        end = None if flt.limit is None else flt.offset + flt.limit
        return [run_from_dict(copy.deepcopy(r)) for r in runs[flt.offset : end]]

    def count_runs(self, flt: RunFilter | None = None) -> int:
        flt = flt or RunFilter()
        return sum(1 for r in self._snapshot()["runs"].values() if matches(r, flt))

    def delete_run(self, run_id: str) -> None:
        def delete(index: Index) -> None:
            self._run(index, run_id)
            for table in ("runs", "sessions", "checkpoints", "metric_keys", "events"):
                index[table].pop(run_id, None)
            with contextlib.suppress(OSError):
                self._events_path(run_id).unlink()

        self._mutate(delete)

    # sessions ------------------------------------------------------------------------------
    def add_session(self, session: SessionRecord) -> None:
        def add(index: Index) -> None:
            run = self._run(index, session.run_id)
            sessions = index["sessions"].setdefault(session.run_id, [])
            if any(s["number"] == session.number for s in sessions):
                raise StoreError(f"run {session.run_id} already has a session {session.number}")
            sessions.append(session_to_dict(session))
            sessions.sort(key=lambda s: s["number"])
            run["session_count"] = run.get("session_count", 0) + 1
            index["runs"][session.run_id] = run

        self._mutate(add)

    def update_session(self, run_id: str, number: int, **changes: Any) -> SessionRecord:
        changes = coerce_changes(SessionRecord, changes)
        changes.pop("run_id", None)
        changes.pop("number", None)

        def update(index: Index) -> SessionRecord:
            sessions = index["sessions"].get(run_id, [])
            for i, raw in enumerate(sessions):
                if raw["number"] == number:
                    session = session_from_dict(raw)
                    for key, value in changes.items():
                        setattr(session, key, value)
                    sessions[i] = session_to_dict(session)
                    if "active_seconds" in changes:
                        run = self._run(index, run_id)
                        run["active_seconds"] = sum(
                            float(s.get("active_seconds") or 0.0) for s in sessions
                        )
                        index["runs"][run_id] = run
                    return session
            raise RunNotFound(f"run {run_id} has no session {number}")

        return self._mutate(update)

    def sessions(self, run_id: str) -> list[SessionRecord]:
        sessions = [
            session_from_dict(copy.deepcopy(s))
            for s in self._snapshot()["sessions"].get(run_id, [])
        ]
        for session in sessions:
            beat = read_beat(self.home.run_dir(run_id), session.number)
            if beat is not None and (session.heartbeat_at or 0.0) < beat:
                session.heartbeat_at = beat
        return sessions

    def beat(self, run_id: str, number: int, at: float) -> None:
        known = self._snapshot()["sessions"].get(run_id, [])
        if not any(s["number"] == number for s in known):
            raise RunNotFound(f"run {run_id} has no session {number}")
        write_beat(self.home.run_dir(run_id), number, at)

    # events, metrics, checkpoints ------------------------------------------------------------
    def _events_path(self, run_id: str) -> Path:
        return self.home.run_dir(run_id) / "events.jsonl"

    def append_events(self, run_id: str, events: Sequence[Event]) -> None:
        if not events:
            return
        events = cast("list[Event]", screen_batch(events))
        found = digest(run_id, events)

        def append(index: Index) -> None:
            run = run_from_dict(self._run(index, run_id))
            state = index["events"].setdefault(run_id, {"seq": 0, "bytes": 0})
            lines = []
            for i, event in enumerate(events, start=state["seq"] + 1):
                lines.append(json.dumps({"seq": i, **event_to_dict(event)}, default=str))
            data = ("\n".join(lines) + "\n").encode()
            path = self._events_path(run_id)
            try:
                self.home.ensure_run_dir(run_id)
                with open(path, "ab") as fh:
                    fh.truncate(state["bytes"])  # drop what a killed writer left uncommitted
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise os_error_to_store_error(exc, "write the run's events") from exc
            state["seq"] += len(events)
            state["bytes"] += len(data)
            keys = set(index["metric_keys"].get(run_id, [])) | set(found.columns)
            index["metric_keys"][run_id] = sorted(keys)
            found.apply_run(run)
            if found.checkpoints:
                by_key = latest_per_key(found.checkpoints, run.cwd)
                old = index["checkpoints"].get(run_id, [])
                kept = [c for c in old if checkpoint_key(c["path"], run.cwd) not in by_key]
                kept.extend(checkpoint_to_dict(c) for c in by_key.values())
                index["checkpoints"][run_id] = kept
                run.checkpoint_count = len(kept)
            if found.session_steps:
                self._fold_sessions(index, run, found, state["bytes"])
            index["runs"][run_id] = run_to_dict(run)

        self._mutate(append)

    def _fold_sessions(self, index: Index, run: RunRecord, found: Digest, size: int) -> None:
        """The sessions' steps; after a session's first step, the run's last values anew."""
        raw = index["sessions"].get(run.id, [])
        updated = fold_sessions(raw, run, found, lambda: self._metrics_events(run.id, size))
        if updated is not None:
            index["sessions"][run.id] = updated

    def _metrics_events(self, run_id: str, committed: int | None = None) -> Iterator[Event]:
        return (
            event_from_dict(r)
            for r in self._read_events(run_id, committed)
            if r["kind"] == "metrics"
        )

    def _read_events(self, run_id: str, committed: int | None = None) -> Iterator[dict[str, Any]]:
        """The run's committed events (``committed`` bytes of them when given: a writer's view
        of what it is committing)."""
        if committed is None:
            committed = self._snapshot()["events"].get(run_id, {"bytes": 0})["bytes"]
        if not committed:
            return
        try:
            with open(self._events_path(run_id), "rb") as fh:
                raw = fh.read(committed)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise os_error_to_store_error(exc, "read the run's events") from exc
        for line in raw.splitlines():
            if line.strip():
                yield json.loads(line)

    def last_event_seq(self, run_id: str) -> int:
        return int(self._snapshot()["events"].get(run_id, {"seq": 0})["seq"])

    def events(
        self,
        run_id: str,
        kinds: Sequence[str] | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        out: list[StoredEvent] = []
        for raw in self._read_events(run_id):
            if raw["seq"] <= after_seq or (kinds is not None and raw["kind"] not in kinds):
                continue
            out.append(StoredEvent(run_id, raw["seq"], event_from_dict(raw)))
            if limit is not None and len(out) >= limit:
                break
        return out

    def checkpoints(self, run_id: str) -> list[CheckpointRecord]:
        checkpoints = self._snapshot()["checkpoints"].get(run_id, [])
        return [checkpoint_from_dict(copy.deepcopy(c)) for c in checkpoints]

    def delete_checkpoints(self, run_id: str, paths: Sequence[str]) -> None:
        gone = set(paths)

        def delete(index: Index) -> None:
            run = self._run(index, run_id)
            kept = [c for c in index["checkpoints"].get(run_id, []) if c["path"] not in gone]
            index["checkpoints"][run_id] = kept
            run["checkpoint_count"] = len(kept)
            index["runs"][run_id] = run

        if gone:
            self._mutate(delete)

    def metric_keys(self, run_id: str) -> list[str]:
        return list(self._snapshot()["metric_keys"].get(run_id, []))

    def metric_series(
        self,
        run_id: str,
        key: str,
        max_points: int | None = None,
        after_step: int | None = None,
        all_sessions: bool = False,
    ) -> MetricSeries:
        cutoffs = None if all_sessions else supersede_cutoffs(self.sessions(run_id))
        found = digest(run_id, self._metrics_events(run_id))
        return series_of(found, key, max_points, after_step, cutoffs)
