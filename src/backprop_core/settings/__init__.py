"""Settings: the typed ``Settings`` and how they are resolved and validated (see "Settings"
in docs/architecture.md)."""

from __future__ import annotations

from backprop_core.settings.model import Settings, snake
from backprop_core.settings.resolve import (
    default_home,
    defaults,
    resolve_settings,
    resolve_with_warnings,
    user_config_path,
)

__all__ = [
    "Settings",
    "default_home",
    "defaults",
    "resolve_settings",
    "resolve_with_warnings",
    "snake",
    "user_config_path",
]
