"""On/off switches read from ``BACKPROP_*`` environment variables, all read the same way."""

from __future__ import annotations

import os

_OFF = ("0", "false", "no", "off")


def env_flag(name: str, default: bool = False) -> bool:
    """``name`` unset or empty gives ``default``; ``0``/``false``/``no``/``off`` (any case)
    turn it off; any other value turns it on."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw not in _OFF
