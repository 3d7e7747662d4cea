"""The JSON store's index file, ``experiments.json``: its format, and reading it without a
store (what ``gc`` asks every store: which runs it knows)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

INDEX_NAME = "experiments.json"
GENERATION = re.compile(rb'^\{"generation":(\d+),')
FORMAT = "backprop-json-store"
Index = dict[str, Any]


def empty_index() -> Index:
    return {
        "format": FORMAT,
        "version": 1,
        "runs": {},
        "sessions": {},
        "checkpoints": {},
        "metric_keys": {},
        "events": {},
        "artifacts": {},
        "artifact_uses": {},
    }


def parse_index(raw: bytes) -> Index:
    data = json.loads(raw)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("not a backprop JSON store")
    return data


def unreadable(path: Path) -> bool:
    try:
        parse_index(path.read_bytes())
        return False
    except (ValueError, UnicodeDecodeError):
        return True


def run_ids(path: Path) -> set[str] | None:
    """The ids of the runs in the index at ``path``; empty without one, ``None`` if it
    cannot be read (nothing is changed or moved aside here)."""
    try:
        return set(parse_index(path.read_bytes())["runs"])
    except FileNotFoundError:
        return set()
    except (OSError, ValueError, UnicodeDecodeError, KeyError, TypeError):
        return None


def artifact_digests(path: Path) -> set[str] | None:
    """The digests of every artifact version in the index at ``path``; empty without one,
    ``None`` if it cannot be read."""
    from backprop_json_store.artifact_index import digests

    try:
        return digests(parse_index(path.read_bytes()))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        return None
