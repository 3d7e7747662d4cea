"""What the framework callbacks share: picking the numbers out of a framework's metrics, and
what a resumed session is told about its checkpoint."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from backprop_core import sdk


def scalar_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    """The entries of ``metrics`` that are single numbers (tensors with one element included),
    as floats; everything else (strings, arrays, ``None``) is left out."""
    out: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            out[str(key)] = float(value)
            continue
        numel = getattr(value, "numel", None)
        size = numel() if callable(numel) else getattr(value, "size", None)
        if size == 1 and hasattr(value, "item"):
            try:
                number = value.item()
            except (TypeError, ValueError, RuntimeError):
                continue
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                out[str(key)] = float(number)
    return out


def ensure_run(name: str | None = None, config: Mapping[str, Any] | None = None) -> sdk.Run:
    """The active run, started with ``init`` if there is none."""
    run = sdk.active_run()
    return run if run is not None else sdk.init(name=name, config=config)


def resume_number(name: str) -> int | None:
    """``BACKPROP_RESUME_STEP``/``BACKPROP_RESUME_EPOCH`` as an integer, when this session
    resumes from a checkpoint that recorded it (docs/events.md)."""
    if not os.environ.get("BACKPROP_RESUME_FROM"):
        return None
    try:
        return int(os.environ.get(name, ""))
    except ValueError:
        return None
