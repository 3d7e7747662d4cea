"""Monitors (NaN alerts, stall watchdog...) attached to one session, and what they ask for."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

from backprop_core.events.event import Event
from backprop_core.events.ingest import Item, expand
from backprop_core.launch.spec import Monitor, MonitorAction
from backprop_core.settings.model import Settings


class MonitorSet:
    """Every monitor switched on for this session. Thread-safe: readers call it concurrently.

    ``on_alert(level, text)`` records an alert; ``on_stop(action)`` asks the supervisor to stop.
    """

    def __init__(
        self,
        classes: dict[str, type[Monitor]],
        settings: Settings,
        on_alert: Callable[[str, str], None],
        on_stop: Callable[[MonitorAction], None],
    ) -> None:
        self.monitors: list[Monitor] = []
        for name, cls in classes.items():
            try:
                monitor = cls.create(settings)
            except Exception as exc:
                print(
                    f"backprop: warning: monitor '{name}' failed to start: {exc}", file=sys.stderr
                )
                continue
            if monitor is not None:
                self.monitors.append(monitor)
        # Re-entrant as a second safeguard; actions are taken outside it (see ``_act_all``).
        self._lock = threading.RLock()
        self._on_alert = on_alert
        self._on_stop = on_stop
        self._last_output = 0.0
        self._every_event = any(m.sees_every_event for m in self.monitors)

    def __bool__(self) -> bool:
        return bool(self.monitors)

    def _act(self, action: MonitorAction | None) -> None:
        if action is None:
            return
        if action.alert:
            self._on_alert(action.level, action.alert)
        if action.stop:
            self._on_stop(action)

    def events(self, events: list[Event]) -> None:
        if not self.monitors:
            return
        now = time.time()
        actions: list[MonitorAction | None] = []
        with self._lock:
            for monitor in self.monitors:
                try:
                    actions.extend(monitor.on_event(event, now) for event in events)
                except Exception as exc:
                    _warn(monitor, exc)
        self._act_all(actions)

    def items(self, items: list[Item]) -> None:
        """``events`` for what the hot path parsed (events and runs of metrics events)."""
        if not self.monitors:
            return
        if self._every_event:
            self.events(expand(items))
            return
        events: list[Event] = []
        for item in items:
            if isinstance(item, Event):
                events.append(item)
                continue
            picked = item.non_finite()
            last = len(item) - 1
            if not picked or picked[-1] != last:
                picked.append(last)
            events.extend(item.event(i) for i in picked)
        self.events(events)

    def output(self) -> None:
        if not self.monitors:
            return
        now = time.time()
        if now - self._last_output < 0.2:  # cheap: monitors only need a recent time
            return
        self._last_output = now
        with self._lock:
            for monitor in self.monitors:
                try:
                    monitor.on_output(now)
                except Exception as exc:
                    _warn(monitor, exc)

    def tick(self) -> None:
        if not self.monitors:
            return
        now = time.time()
        actions: list[MonitorAction | None] = []
        with self._lock:
            for monitor in self.monitors:
                try:
                    actions.append(monitor.on_tick(now))
                except Exception as exc:
                    _warn(monitor, exc)
        self._act_all(actions)

    def _act_all(self, actions: list[MonitorAction | None]) -> None:
        # Acted on outside the lock: recording an alert must never re-enter the monitors.
        for action in actions:
            if action is not None:
                self._act(action)


def _warn(monitor: Monitor, exc: Exception) -> None:
    print(f"backprop: warning: monitor {monitor.name} failed: {exc}", file=sys.stderr)
