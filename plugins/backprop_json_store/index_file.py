"""The JSON store's index file, ``experiments.json``: its format, telling our index from a
corrupt file and from someone else's JSON (the Node tool's ``experiments.json`` has the same
name), and reading it without a store (what ``gc`` asks every store: which runs it knows)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backprop_core import StoreError

INDEX_NAME = "experiments.json"
GENERATION = re.compile(rb'^\{"generation":(\d+),')
FORMAT = "backprop-json-store"
Index = dict[str, Any]
# Fields of a Node-tool experiment record (see backprop_core.interop.node_import).
_NODE_FIELDS = frozenset({"scriptPath", "startTime", "endTime", "lastStep", "lastLoss"})


class ForeignFile(StoreError):
    """The index path holds a JSON document that is not ours. It is never moved or rewritten."""


def empty_index() -> Index:
    return {
        "format": FORMAT,
        "version": 1,
        "runs": {},
        "sessions": {},
        "checkpoints": {},
        "metric_keys": {},
        "events": {},
    }


def _is_node_file(data: Any) -> bool:
    if isinstance(data, Mapping) and "experiments" in data:
        data = data["experiments"]
    records = data.values() if isinstance(data, Mapping) else data
    if not isinstance(records, (list, type({}.values()))):
        return False
    return any(isinstance(r, Mapping) and _NODE_FIELDS & set(r) for r in records)


def parse_index(raw: bytes, path: Path) -> Index:
    """Our index in ``raw``. ``ValueError`` (or ``UnicodeDecodeError``) when the bytes are not
    JSON at all, i.e. corrupt; ``ForeignFile`` when they are JSON of some other program."""
    try:
        data = json.loads(raw)
    except RecursionError:  # valid JSON nested deeper than we ever write: not ours
        data = None
    if isinstance(data, dict) and data.get("format") == FORMAT:
        return data
    if _is_node_file(data):
        raise ForeignFile(
            f"{path} is the Node tool's experiments.json, not a backprop JSON store; "
            "nothing was changed",
            hint="move it out of the backprop home, then bring its runs in with: "
            "backprop import FILE",
        )
    raise ForeignFile(
        f"{path} is a JSON file but not a backprop JSON store; nothing was changed",
        hint="move it out of the backprop home, or set BACKPROP_HOME or --home elsewhere",
    )


def unreadable(path: Path) -> bool:
    """Whether ``path`` is unreadable as JSON (what may be moved aside); someone else's JSON is
    not corrupt."""
    try:
        parse_index(path.read_bytes(), path)
    except ForeignFile:
        return False
    except (ValueError, UnicodeDecodeError):
        return True
    return False


def run_ids(path: Path) -> set[str] | None:
    """The ids of the runs in the index at ``path``; empty without one, ``None`` if it
    cannot be read or is someone else's file (nothing is changed or moved aside here)."""
    try:
        return set(parse_index(path.read_bytes(), path)["runs"])
    except FileNotFoundError:
        return set()
    except (OSError, StoreError, ValueError, UnicodeDecodeError, KeyError, TypeError):
        return None
