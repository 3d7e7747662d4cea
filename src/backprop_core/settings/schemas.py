"""Locating and loading the JSON Schemas shipped with backprop."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_CORE = Path(__file__).resolve().parent.parent


def schema_dir() -> Path:
    """``backprop_core/schemas`` in a wheel; the repository's ``schemas/`` in a source checkout."""
    for candidate in (_CORE / "schemas", _CORE.parent.parent / "schemas"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("backprop's schemas folder is missing; reinstall backprop")


def schema_path(name: str) -> Path:
    return schema_dir() / name


@cache
def load_schema(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(schema_path(name).read_text(encoding="utf-8"))
    return data


CONFIG_SCHEMA = "backprop.config.schema.json"
