"""Default in-run monitors: ``nan`` (NaN/Inf in a logged loss) and ``stall`` (no output)."""

from __future__ import annotations

from backprop_core import hookimpl
from backprop_core.launch import Monitor
from backprop_monitors.nan import NanMonitor
from backprop_monitors.stall import StallMonitor

__all__ = ["NanMonitor", "StallMonitor"]


@hookimpl
def backprop_register_monitors() -> list[type[Monitor]]:
    return [NanMonitor, StallMonitor]
