"""Default in-run monitors: ``nan`` (NaN/Inf in a logged loss) and ``stall`` (no output)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_core import hookimpl

if TYPE_CHECKING:
    from backprop_core import Monitor


@hookimpl
def backprop_register_monitors() -> list[type[Monitor]]:
    from backprop_monitors.nan import NanMonitor
    from backprop_monitors.stall import StallMonitor

    return [NanMonitor, StallMonitor]
