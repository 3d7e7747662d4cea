"""Every ``BACKPROP_*`` variable that is not a setting: the process switches, read one way,
and the contract a supervised script receives. Settings read the rest (``BACKPROP_STORE``…)."""

from __future__ import annotations

import os

#: Switches and plugin lists read straight from the environment by the process itself.
SWITCH_VARS = (
    "BACKPROP_DEBUG",
    "BACKPROP_STRICT_PLUGINS",
    "BACKPROP_LOAD_PLUGINS",
    "BACKPROP_DISABLE_PLUGINS",
    "BACKPROP_PLUGIN_CACHE",
    "BACKPROP_CGROUP",
    "BACKPROP_REMOTE",  # the host `backprop --remote` talks to
)

#: Variables backprop sets for a supervised script (inherited values are dropped, so a nested
#: run never sees stale ones). ``GPU_MEMORY_LIMIT`` and ``FRAMEWORK`` reuse setting names.
CONTRACT_VARS = (
    "BACKPROP_RUN_ID",
    "BACKPROP_SESSION",
    "BACKPROP_RUN_DIR",
    "BACKPROP_CHECKPOINT_DIR",
    "BACKPROP_RESUME_FROM",
    "BACKPROP_RESUME_STEP",
    "BACKPROP_RESUME_EPOCH",
    "BACKPROP_DEADLINE",
    "BACKPROP_CHECKPOINT_EVERY",
    "BACKPROP_GRACE_SECONDS",
    "BACKPROP_GPU_MEMORY_LIMIT",
    "BACKPROP_FRAMEWORK",
    "BACKPROP_EVENTS_FD",
    "BACKPROP_BOOTSTRAP_FRAMEWORK",
)

_OFF = ("0", "false", "no", "off")


def env_flag(name: str, default: bool = False) -> bool:
    """``name`` unset or empty gives ``default``; ``0``/``false``/``no``/``off`` (any case)
    turn it off; any other value turns it on."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw not in _OFF
