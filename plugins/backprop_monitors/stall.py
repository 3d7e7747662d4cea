"""The ``stall`` monitor: no output and no events for ``monitors.stallMinutes``
(``--stall-minutes``) raises an alert and stops the run as ``failed`` with reason ``stalled``.
Off when the setting is unset or 0.

Paused time is not a stall: ticks stop while the supervisor has the run paused, so a gap
between two ticks much longer than the poll interval is taken as a pause and added to the
quiet period's start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from backprop_core import Event, Monitor, MonitorAction, RunStatus

if TYPE_CHECKING:
    from backprop_core import Settings

#: A gap between ticks longer than this many poll intervals is a pause, not silence.
PAUSE_GAP_POLLS = 3.0


class StallMonitor(Monitor):
    name: ClassVar[str] = "stall"
    sees_every_event: ClassVar[bool] = False  # only NaN/±Inf values and activity

    def __init__(self, stall_seconds: float, poll_seconds: float = 5.0) -> None:
        self.stall_seconds = stall_seconds
        self.pause_gap = max(PAUSE_GAP_POLLS * poll_seconds, 1.0)
        self._last_activity: float | None = None
        self._last_tick: float | None = None
        self._fired = False

    @classmethod
    def create(cls, settings: Settings) -> StallMonitor | None:
        minutes = settings.monitors.stall_minutes
        if not minutes or minutes <= 0:
            return None
        return cls(minutes * 60.0, settings.governor.poll_seconds)

    def _active(self, now: float) -> None:
        self._last_activity = now if self._last_activity is None else max(self._last_activity, now)

    def on_event(self, event: Event, now: float) -> MonitorAction | None:
        self._active(now)
        return None

    def on_output(self, now: float) -> None:
        self._active(now)

    def on_tick(self, now: float) -> MonitorAction | None:
        if self._last_activity is None:  # the session just started: the quiet period starts now
            self._last_activity = now
        if self._last_tick is not None and now - self._last_tick > self.pause_gap:
            self._last_activity += now - self._last_tick  # the run was paused meanwhile
        self._last_tick = now
        quiet = now - self._last_activity
        if self._fired or quiet < self.stall_seconds:
            return None
        self._fired = True
        minutes = self.stall_seconds / 60
        return MonitorAction(
            alert=f"no output and no events for {minutes:g} min; stopping the stalled run",
            level="error",
            stop=True,
            status=RunStatus.FAILED,
            reason="stalled",
        )
