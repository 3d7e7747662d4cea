"""The ``nan`` and ``stall`` monitors, driven directly the way the supervisor drives them."""

from __future__ import annotations

import math
from pathlib import Path

from backprop_core.events.event import Event
from backprop_core.plugin.manager import get_plugins
from backprop_core.settings import Settings
from backprop_core.store.records import RunStatus
from backprop_monitors.nan import NanMonitor
from backprop_monitors.stall import StallMonitor


def settings(tmp_path: Path, **monitors: object) -> Settings:
    return Settings.from_config(
        {"monitors": monitors, "governor": {"pollSeconds": 1}}, home=tmp_path
    )


def metrics(data: dict[str, object], step: int | None = 1) -> Event:
    payload: dict[str, object] = {"data": data}
    if step is not None:
        payload["step"] = step
    return Event("metrics", 0.0, step, payload)


def test_monitors_are_registered_through_the_entry_point() -> None:
    monitors = get_plugins().monitors()
    assert monitors["nan"] is NanMonitor and monitors["stall"] is StallMonitor


def test_nan_loss_alerts_once_per_metric_without_stopping_by_default(tmp_path: Path) -> None:
    monitor = NanMonitor.create(settings(tmp_path))
    assert monitor.on_event(metrics({"loss": 0.5, "grad_norm": math.inf}), 1.0) is None
    action = monitor.on_event(metrics({"loss": math.nan}, step=7), 2.0)
    assert action is not None and not action.stop
    assert action.alert is not None and "loss=nan" in action.alert and "step 7" in action.alert
    assert monitor.on_event(metrics({"loss": math.nan}, step=8), 3.0) is None  # once per key
    again = monitor.on_event(metrics({"val_loss": -math.inf}), 4.0)
    assert again is not None and "val_loss" in (again.alert or "")


def test_nan_loss_stops_the_run_as_failed_with_stop_on_nan(tmp_path: Path) -> None:
    monitor = NanMonitor.create(settings(tmp_path, stopOnNan=True))
    action = monitor.on_event(metrics({"Train/Loss": "NaN"}), 1.0)  # JSON string form too
    assert action is not None
    assert (action.stop, action.status, action.reason) == (True, RunStatus.FAILED, "nan")


def test_nan_monitor_reads_node_style_events_and_ignores_other_kinds(tmp_path: Path) -> None:
    monitor = NanMonitor.create(settings(tmp_path))
    node = Event("metrics", 0.0, 3, {"step": 3, "loss": math.nan})
    assert monitor.on_event(node, 1.0) is not None
    other = Event("summary", 0.0, None, {"data": {"loss": math.nan}})
    assert NanMonitor().on_event(other, 1.0) is None


def test_stall_monitor_is_off_unless_configured(tmp_path: Path) -> None:
    assert StallMonitor.create(settings(tmp_path)) is None
    assert StallMonitor.create(settings(tmp_path, stallMinutes=0)) is None
    assert StallMonitor.create(settings(tmp_path, stallMinutes=2)) is not None


def tick(monitor: StallMonitor, start: int, end: int) -> list[int]:
    """Tick every second (the poll interval) from ``start`` to ``end``; when it fired."""
    return [t for t in range(start, end + 1) if monitor.on_tick(float(t)) is not None]


def test_stall_fires_after_the_quiet_period_and_only_once(tmp_path: Path) -> None:
    monitor = StallMonitor.create(settings(tmp_path, stallMinutes=1))
    assert monitor is not None
    assert tick(monitor, 1000, 1050) == []
    monitor.on_output(1050.0)  # output resets the quiet period
    assert tick(monitor, 1051, 1100) == []
    monitor.on_event(metrics({"loss": 1.0}), 1100.0)  # so do events
    assert tick(monitor, 1101, 1159) == []
    action = monitor.on_tick(1160.0)
    assert action is not None
    assert (action.stop, action.status, action.reason) == (True, RunStatus.FAILED, "stalled")
    assert action.alert is not None and "1 min" in action.alert
    assert tick(monitor, 1161, 1300) == []  # once


def test_stall_does_not_count_paused_time(tmp_path: Path) -> None:
    monitor = StallMonitor.create(settings(tmp_path, stallMinutes=1))
    assert monitor is not None
    assert tick(monitor, 0, 30) == []
    # No ticks for 10 minutes: the supervisor had the run paused.
    # 30 s quiet before the pause + 30 s after it = the 1 min limit.
    assert tick(monitor, 630, 659) == []
    assert tick(monitor, 660, 661) == [660]
