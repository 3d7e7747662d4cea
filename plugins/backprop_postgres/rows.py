"""Rows of the PostgreSQL store that are not metric points: sessions (with the heartbeat in a
column of its own), checkpoint records (one per run and file), and listing run ids for ``gc``."""

from __future__ import annotations

import fnmatch
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from backprop_core import CheckpointRecord, RunFilter, RunRecord, SessionRecord
from backprop_core.plugin_kit import checkpoint_to_dict, latest_per_key, session_from_dict
from backprop_postgres.series_pg import clean_text

if TYPE_CHECKING:
    import psycopg

# One encoder for the process: json.dumps with options builds a new one on every call.
dumps = json.JSONEncoder(default=str, separators=(",", ":")).encode


def _refuse(obj: object) -> None:
    raise TypeError


@functools.cache
def _fast_writer() -> Callable[[Mapping[str, Any]], bytes] | None:
    """orjson's writer, imported on first use (importing it takes longer than ``list`` needs
    it), with what it would write differently from ``dumps`` handed to ``_refuse`` instead:
    datetimes, dataclasses and subclasses of builtins (``dumps`` writes those through
    ``str``); ``None`` without orjson."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - a dependency of backprop itself
        return None
    option = (
        orjson.OPT_PASSTHROUGH_DATETIME
        | orjson.OPT_PASSTHROUGH_DATACLASS
        | orjson.OPT_PASSTHROUGH_SUBCLASS
    )
    return functools.partial(orjson.dumps, default=_refuse, option=option)


def payload_text(payload: Mapping[str, Any]) -> str:
    """An event's payload as JSON text that reads back as ``dumps`` writes it. orjson writes
    it ten times faster (repr of floats is most of the time of an event), where it writes the
    same values: it refuses what ``dumps`` writes through ``str`` (and integers beyond 64 bits,
    keys that are not strings, lone surrogates), and writes NaN and ±Inf as ``null``, so any
    ``null`` in its text hands the payload to ``dumps``, which keeps them. One difference is
    left: a member of a plain ``Enum`` (orjson writes its value, ``dumps`` its name); payloads
    parsed from a script's output never hold one."""
    write = _fast_writer()
    if write is not None:
        try:
            text = write(payload)
        except TypeError:
            pass
        else:
            if b"null" not in text:
                return text.decode()
    return dumps(dict(payload))


def session_of(record: str, heartbeat_at: float | None) -> SessionRecord:
    """A session from its row: the heartbeat column is newer than the record's copy."""
    data = json.loads(record)
    data["heartbeat_at"] = heartbeat_at
    return session_from_dict(data)


def insert_checkpoints(
    conn: psycopg.Connection,
    run: RunRecord,
    checkpoints: list[CheckpointRecord],
) -> int:
    """Record ``checkpoints``, replacing the run's older records of the same files; returns
    how many checkpoints the run has now."""
    by_key = latest_per_key(checkpoints, run.cwd)
    keys = [clean_text(k) for k in by_key]
    conn.execute("DELETE FROM checkpoints WHERE run_id = %s AND key = ANY(%s)", (run.id, keys))
    (n,) = conn.execute("SELECT checkpoint_seq FROM runs WHERE id = %s", (run.id,)).fetchone() or (
        0,
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO checkpoints (run_id, n, path, key, record) VALUES (%s, %s, %s, %s, %s)",
            [
                (run.id, n + i, clean_text(c.path), key, dumps(checkpoint_to_dict(c)))
                for i, (key, c) in enumerate(zip(keys, by_key.values()), start=1)
            ],
        )
    conn.execute("UPDATE runs SET checkpoint_seq = %s WHERE id = %s", (n + len(by_key), run.id))
    (count,) = conn.execute(
        "SELECT count(*) FROM checkpoints WHERE run_id = %s", (run.id,)
    ).fetchone() or (0,)
    return int(count)


def run_ids(url: str) -> set[str] | None:
    """The ids of the runs in the database at ``url``, read without creating or migrating
    anything; empty for a database without backprop's tables, ``None`` if it cannot be read."""
    try:
        import psycopg
    except ImportError:
        return None
    try:
        with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
            (exists,) = conn.execute("SELECT to_regclass('runs') IS NOT NULL").fetchone() or (
                False,
            )
            if not exists:
                return set()
            return {row[0] for row in conn.execute("SELECT id FROM runs")}
    except psycopg.Error:
        return None


def matching_ids(rows: Iterable[tuple[str, str | None, str, str]], flt: RunFilter) -> list[str]:
    """The ids among ``rows`` (id, name, tags, params) that match ``flt``'s name, tag and param
    filters, in order. They are applied here, in Python, exactly as every store applies them
    (a shell glob, ``ParamCondition``), not approximated in SQL."""
    out = []
    for run_id, name, tags_text, params_text in rows:
        if flt.name is not None and (name is None or not fnmatch.fnmatchcase(name, flt.name)):
            continue
        if flt.tags:
            tags = json.loads(tags_text)
            if any(tags.get(k) != v for k, v in flt.tags):
                continue
        if flt.params:
            values = json.loads(params_text)
            if not all(cond.matches_params(values) for cond in flt.params):
                continue
        out.append(run_id)
    return out
