"""The ``nan`` monitor: a NaN or infinite value in a loss-like metric raises an alert, and with
``monitors.stopOnNan`` (``--stop-on-nan``) stops the run as ``failed`` with reason ``nan``.

Loss-like means the metric's name contains ``loss`` (any case): ``loss``, ``val_loss``,
``train/loss_step``. Other metrics (a gradient norm, a learning rate) may be infinite on
purpose and are left alone. Each metric alerts once per session so a diverged run does not
flood the log; stopping happens at the first one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

from backprop_core import Event, Monitor, MonitorAction, RunStatus
from backprop_core.plugin_kit import is_loss_key, metric_values

if TYPE_CHECKING:
    from backprop_core import Settings


class NanMonitor(Monitor):
    name: ClassVar[str] = "nan"
    sees_every_event: ClassVar[bool] = False  # only NaN/±Inf values and activity

    def __init__(self, stop: bool = False) -> None:
        self.stop = stop
        self._alerted: set[str] = set()

    @classmethod
    def create(cls, settings: Settings) -> NanMonitor:
        return cls(stop=settings.monitors.stop_on_nan)

    def on_event(self, event: Event, now: float) -> MonitorAction | None:
        if event.kind != "metrics":
            return None
        values = metric_values(event)  # "NaN"/"Infinity" strings already read as floats
        bad = [
            key
            for key, value in values.items()
            if is_loss_key(key) and not math.isfinite(value) and key not in self._alerted
        ]
        if not bad:
            return None
        self._alerted.update(bad)
        where = f" at step {event.step}" if event.step is not None else ""
        shown = ", ".join(f"{key}={values[key]}" for key in bad)
        text = f"non-finite loss{where}: {shown}"
        if self.stop:
            return MonitorAction(
                alert=f"{text}; stopping the run (--stop-on-nan)",
                level="error",
                stop=True,
                status=RunStatus.FAILED,
                reason="nan",
            )
        return MonitorAction(alert=text, level="warning")
