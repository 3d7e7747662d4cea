"""``backprop logs RUN``: print, or follow, the output of a run's sessions.

The output is read as chunks (``LogChunk``) and written by one function, so a run's logs look
the same whether they come from this machine's files or, as ``--json`` lines, from another
machine (``backprop --remote HOST logs``).
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from backprop_core.cli.options import json_option, settings_options
from backprop_core.cli.run_views import open_from_options
from backprop_core.errors import UsageError
from backprop_core.store.contract import Store
from backprop_core.store.records import ACTIVE_STATUSES, RunRecord, RunStatus

POLL_S = 0.25
LIVENESS_CHECK_S = 1.0
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class LogChunk:
    """Bytes of a session's log from ``offset``. A session's first chunk may be empty: it marks
    where the session starts."""

    session: int
    offset: int
    data: bytes


def _complete_utf8(data: bytes) -> int:
    """How many leading bytes of ``data`` end on a whole UTF-8 character, so a chunk never
    splits one (the rest comes with the next chunk)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: keep looking for the lead byte
            continue
        need = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte >= 0xF0 else 1
        return len(data) if byte < 0x80 or back >= need else len(data) - back
    return len(data)


def _chunks(path: Path, session: int, offset: int, final: bool) -> Iterator[LogChunk]:
    """The log from ``offset`` as it is now, in chunks of at most ``CHUNK_BYTES``. Unless
    ``final``, a character still being written is left for the next read."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - a missing log is simply no output yet
    except FileNotFoundError:
        return
    with fh:
        fh.seek(offset)
        while True:
            data = fh.read(CHUNK_BYTES)
            if not data:
                return
            keep = len(data) if final and len(data) < CHUNK_BYTES else _complete_utf8(data)
            if keep < len(data):
                fh.seek(offset + keep)
                data = data[:keep]
                if not data:
                    return
            yield LogChunk(session, offset, data)
            offset += len(data)


def _follow(
    store: Store, run_id: str, session: int | None, start: int, lost_after: float
) -> Iterator[LogChunk]:
    """New output until the run is no longer active, moving on to new sessions. The run's
    heartbeat is checked as well, so a dead or frozen supervisor ends the wait."""
    from backprop_core.store.liveness import check_run

    current, offset = start, 0
    next_check = 0.0
    yield LogChunk(current, 0, b"")
    while True:
        path = store.home.session_log(run_id, current)
        for chunk in _chunks(path, current, offset, final=False):
            offset += len(chunk.data)
            yield chunk
        run = store.get_run(run_id)
        if session is None and run.session_count > current:
            for chunk in _chunks(path, current, offset, final=True):
                yield chunk
            current, offset = current + 1, 0
            yield LogChunk(current, 0, b"")
            continue
        if run.status in ACTIVE_STATUSES and time.monotonic() >= next_check:
            run = check_run(store, run, lost_after)
            next_check = time.monotonic() + LIVENESS_CHECK_S
        if run.status not in ACTIVE_STATUSES:
            yield from _chunks(path, current, offset, final=True)
            if run.status is RunStatus.LOST:
                click.echo(f"backprop: run {run_id} is lost: {run.reason}", err=True)
            return
        time.sleep(POLL_S)


def read_chunks(
    store: Store,
    run: RunRecord,
    numbers: list[int],
    follow: bool,
    session: int | None,
    lost_after: float,
) -> Iterator[LogChunk]:
    """The chunks ``logs`` prints: every listed session, then (``follow``) new output until
    the run ends or is found lost (no heartbeat for ``lost_after`` seconds)."""
    for n in numbers if not follow else numbers[:-1]:
        yield LogChunk(n, 0, b"")
        yield from _chunks(store.home.session_log(run.id, n), n, 0, final=True)
    if follow:
        yield from _follow(store, run.id, session, numbers[-1] if numbers else 1, lost_after)


def header_sessions(numbers: list[int], follow: bool) -> list[int]:
    """Sessions whose output starts with a ``── session N ──`` line on a terminal."""
    if len(numbers) < 2:
        return []
    return numbers[:-1] if follow else numbers


def write_chunks(chunks: Iterable[LogChunk], headers: Collection[int]) -> None:
    """Write chunks to stdout as the run printed them (headers only on a terminal)."""
    terminal = sys.stdout.isatty()
    shown: int | None = None
    out = sys.stdout.buffer
    for chunk in chunks:
        if chunk.session != shown:
            shown = chunk.session
            if terminal and chunk.session in headers:
                click.echo(click.style(f"── session {chunk.session} ──", dim=True))
        if chunk.data:
            out.write(chunk.data)
            out.flush()


def chunk_to_json(run_id: str, chunk: LogChunk) -> str:
    """One ``logs --json`` line: ``text`` when the bytes are UTF-8, else ``base64``."""
    data: dict[str, Any] = {"run_id": run_id, "session": chunk.session, "offset": chunk.offset}
    try:
        data["text"] = chunk.data.decode("utf-8")
    except UnicodeDecodeError:
        data["base64"] = base64.b64encode(chunk.data).decode("ascii")
    return json.dumps(data, ensure_ascii=False)


def chunk_from_json(data: dict[str, Any]) -> LogChunk:
    raw = data["text"].encode("utf-8") if "text" in data else base64.b64decode(data["base64"])
    return LogChunk(int(data["session"]), int(data["offset"]), raw)


def session_numbers(run: RunRecord, sessions: list[int], only: int | None) -> list[int]:
    """The sessions ``logs`` prints (all, or ``--session N``)."""
    numbers = sessions or list(range(1, run.session_count + 1))
    if only is None:
        return numbers
    if only not in numbers:
        raise UsageError(
            f"run {run.id} has no session {only}",
            hint=f"it has sessions {', '.join(map(str, numbers)) or 'none yet'}",
        )
    return [only]


@click.command("logs")
@click.argument("run_ref", metavar="RUN")
@click.option(
    "-f",
    "--follow",
    is_flag=True,
    help="Keep printing new output while the run is active (until it ends, or is lost).",
)
@click.option("--session", type=click.IntRange(min=1), help="Only this session (default: all).")
@settings_options
@json_option
def logs_command(
    run_ref: str, follow: bool, session: int | None, as_json: bool, **options: Any
) -> None:
    """Print (or follow) a run's output.

    The stdout and stderr of RUN's sessions, as the run printed them.

    With --json, one JSON object per line and chunk of output: run_id, session, offset (in
    bytes, in that session's log) and text, or base64 for bytes that are not UTF-8. A session's
    first object may have empty text: it marks where the session starts.
    """
    settings, store = open_from_options(options)
    with store:
        run = store.resolve(run_ref)
        numbers = session_numbers(run, [s.number for s in store.sessions(run.id)], session)
        lost_after = settings.liveness.lost_after_seconds
        chunks = read_chunks(store, run, numbers, follow, session, lost_after)
        try:
            if as_json:
                for chunk in chunks:
                    click.echo(chunk_to_json(run.id, chunk))
            else:
                write_chunks(chunks, header_sessions(numbers, follow))
        except KeyboardInterrupt:
            if not follow:
                raise
