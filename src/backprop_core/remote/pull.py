"""``pull``: copy the runs of another machine into the local store, incrementally.

One pull: send the host what is here (``PullSink.request``), apply what it answers run by run
(``PullSink.apply``), copy checkpoint files if asked, and remember for each fully applied run
its digest, highest event seq and log sizes in ``home/pulls/<host>.json``, so the next pull
skips it when nothing changed there and asks only for what is new otherwise. That state only
saves work: what is applied is checked against the store and the log files, so a lost or stale
state file costs time, never correctness. The host is only read.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from backprop_core.errors import RemoteError
from backprop_core.remote.commands import StderrRelay, end
from backprop_core.remote.pull_apply import PullReport, PullSink
from backprop_core.remote.pull_wire import read_messages, widen_pipe
from backprop_core.remote.ssh import SshConnection
from backprop_core.store.bulk import collector_paused
from backprop_core.store.contract import Store
from backprop_core.store.files import atomic_write, exclusive_lock

SAVE_EVERY_S = 1.0
#: About how much of the answer one store batch applies: large enough that a batch holds
#: many runs, small enough that it keeps the store's write lock only briefly, and that the
#: other side, which goes on writing into the connection's buffers meanwhile, is not kept
#: waiting (the two sides then work at the same time).
BATCH_BYTES = 1 << 20


def host_slug(host: str) -> str:
    """A file name for ``host``: readable, and distinct for distinct hosts."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", host).strip("._")[:60] or "host"
    return f"{readable}-{hashlib.sha1(host.encode()).hexdigest()[:8]}"


class PullState:
    """What was last applied of every run from one host (``home/pulls/<host>.json``): per
    run, ``{"digest", "seq", "logs"}``."""

    def __init__(self, store: Store, host: str) -> None:
        self.path = store.home.root / "pulls" / f"{host_slug(host)}.json"
        self.host = host
        self.runs: dict[str, dict[str, Any]] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("host") == host and isinstance(data.get("runs"), dict):
                self.runs = {str(k): v for k, v in data["runs"].items() if _well_formed(v)}
        except (OSError, ValueError):
            pass  # no state, or a damaged one: the next pull looks at every run

    def record(self, applied: dict[str, dict[str, Any]]) -> None:
        """Remember ``applied`` and save, if it says anything new (saving syncs to disk)."""
        fresh = {k: v for k, v in applied.items() if self.runs.get(k) != v}
        if fresh:
            self.runs.update(fresh)
            self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"host": self.host, "runs": self.runs}
        atomic_write(self.path, json.dumps(data, separators=(",", ":")).encode())


def _well_formed(entry: Any) -> bool:
    """Whether a run's entry has the shape ``record`` gives it (else the run is looked at
    again, as if it had none)."""
    if not isinstance(entry, dict):
        return False
    digest, seq, logs = entry.get("digest"), entry.get("seq"), entry.get("logs")
    return (
        isinstance(digest, str)
        and type(seq) is int
        and isinstance(logs, dict)
        and all(type(size) is int for size in logs.values())
    )


@contextmanager
def pull_lock(store: Store, host: str) -> Iterator[None]:
    """One pull from a host at a time into a home (a second one waits)."""
    store.home.locks_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(store.home.locks_dir / f"pull-{host_slug(host)}.lock"):
        yield


def pull_once(conn: SshConnection, store: Store, *, with_files: bool) -> PullReport:
    """Pull every change from ``conn``'s host into ``store``."""
    started = time.perf_counter()
    with pull_lock(store, conn.host):
        state = PullState(store, conn.host)
        sink = PullSink(store, conn.host, with_files=with_files)
        try:
            _stream(conn, sink, state)
        finally:
            sink.close()
            if not with_files:
                state.record(sink.stored)
        if with_files:
            from backprop_core.remote.pull_files import copy_files

            files, copied = copy_files(
                conn,
                sink.needs,
                sink.report.remote_home,
                store.home.runs_dir,
                rsync_there=sink.rsync_there,
            )
            sink.report.files, sink.report.file_bytes = files, copied
            state.record(sink.stored)  # only now are those runs complete here
    sink.report.seconds = time.perf_counter() - started
    return sink.report


def _apply_stream(sink: PullSink, state: PullState, stream: IO[bytes]) -> bool:
    """Apply the other side's answer; whether it got to its ``done``.

    Messages are read first, then applied about ``BATCH_BYTES`` at a time in one store batch
    (one transaction in SQLite instead of several per run, and none left open while waiting
    on the network). The runs each batch finished are remembered (every ``SAVE_EVERY_S``), so
    a pull cut off later keeps them."""
    done = False
    saved = time.monotonic()
    with collector_paused():
        for group in _groups(read_messages(stream)):
            with sink.store.batch():
                for message in group:
                    sink.apply(message)
                    done = done or "done" in message
                sink.settle()  # the batch's logs written before it commits
            sink.stored.update(sink.applied)
            if not sink.with_files and time.monotonic() - saved > SAVE_EVERY_S:
                state.record(sink.stored)
                saved = time.monotonic()
    return done


def _groups(messages: Iterator[tuple[dict[str, Any], int]]) -> Iterator[list[dict[str, Any]]]:
    """``messages`` in lists of about ``BATCH_BYTES`` (their size on the wire)."""
    group: list[dict[str, Any]] = []
    size = 0
    for message, nbytes in messages:
        group.append(message)
        size += nbytes
        if size >= BATCH_BYTES:
            yield group
            group, size = [], 0
    if group:
        yield group


def _stream(conn: SshConnection, sink: PullSink, state: PullState) -> None:
    proc = conn.popen(["remote-helper", "pull-source"], stdin=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    widen_pipe(proc.stdout)  # the other side goes on sending while this side applies
    relay = StderrRelay(conn.host)
    drained = relay.drain(proc.stderr)
    done = False
    try:
        # Worked out while the other side starts (its shell, Python, backprop), which then
        # waits for it: listing the runs here overlaps that instead of coming before it.
        try:
            request = json.dumps(sink.request(state.runs)).encode() + b"\n"
        except BaseException:
            proc.kill()  # its stdin closes unasked: the other side ends without answering
            raise
        proc.stdin.write(request)
        proc.stdin.close()
        done = _apply_stream(sink, state, proc.stdout)
    except BrokenPipeError:
        pass  # the other side ended early: its exit status says why
    finally:
        end(proc)
        drained.join(timeout=10)
    if proc.returncode != 0:
        conn.raise_for_launch(proc.returncode, relay.text)
        raise relay.failure(proc.returncode)
    if not done:
        raise RemoteError(
            f"the pull from {conn.host} ended early", hint="run it again to finish it"
        )
