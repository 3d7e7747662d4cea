"""The ``nan`` monitor: a NaN or infinite value in a loss-like metric raises an alert, and with
``monitors.stopOnNan`` (``--stop-on-nan``) stops the run as ``failed`` with reason ``nan``.

Loss-like means the metric's name contains ``loss`` (any case): ``loss``, ``val_loss``,
``train/loss_step``. Other metrics (a gradient norm, a learning rate) may be infinite on
purpose and are left alone. Each metric alerts once per session so a diverged run does not
flood the log; stopping happens at the first one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from backprop_core.events import Event
from backprop_core.ingest import NON_FINITE_TEXT
from backprop_core.launch import Monitor, MonitorAction
from backprop_core.records import RunStatus
from backprop_core.sdk.values import is_loss_key

if TYPE_CHECKING:
    from backprop_core.settings import Settings


def non_finite(value: Any) -> bool:
    """True for float NaN/±Inf and for the strings JSON payloads use for them."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, str):
        return value.strip().lower() in NON_FINITE_TEXT
    return False


def metric_items(event: Event) -> dict[str, Any]:
    """A metrics event's values: its ``data`` object, or its top-level fields (Node form)."""
    data = event.data
    if data:
        return dict(data)
    return {k: v for k, v in event.payload.items() if k not in ("event", "step", "time")}


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
        bad = [
            key
            for key, value in metric_items(event).items()
            if is_loss_key(str(key)) and non_finite(value) and key not in self._alerted
        ]
        if not bad:
            return None
        self._alerted.update(bad)
        where = f" at step {event.step}" if event.step is not None else ""
        values = ", ".join(f"{key}={metric_items(event)[key]}" for key in bad)
        text = f"non-finite loss{where}: {values}"
        if self.stop:
            return MonitorAction(
                alert=f"{text}; stopping the run (--stop-on-nan)",
                level="error",
                stop=True,
                status=RunStatus.FAILED,
                reason="nan",
            )
        return MonitorAction(alert=text, level="warning")
