"""Where a session's output lines go once parsed: the store writer (with the content of
announced artifacts stored first), the session state, the monitors and the plugins that listen
to run events."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from backprop_core.artifacts.witness import ArtifactWitness
from backprop_core.events.event import Event, ParseContext, ParseState, Stream
from backprop_core.events.file_identity import witness
from backprop_core.events.ingest import Item, expand
from backprop_core.launch.spec import MonitorAction
from backprop_core.supervisor.context import SessionContext
from backprop_core.supervisor.monitoring import MonitorSet
from backprop_core.supervisor.sink import EventSink
from backprop_core.supervisor.state import SessionState


class EventRouter:
    """Called from the reader threads (``on_lines``) and the monitors (``alert``)."""

    def __init__(
        self,
        ctx: SessionContext,
        sink: EventSink,
        on_monitor_stop: Callable[[MonitorAction], None],
        note: Callable[[Sequence[Item]], None] | None = None,
    ) -> None:
        """``note`` is shown each chunk's parsed events before they are recorded (the
        watchers learn which checkpoints the script announced itself)."""
        self.ctx = ctx
        self._note = note
        self.sink = sink
        self.state = SessionState()
        spec = ctx.spec
        self._parsers = ctx.parsers
        # One parse state for the session, shared by its streams (the run's last known step).
        self.parse_state = shared = ParseState(step=ctx.run.last_step)
        self._contexts = {
            s: ParseContext(spec.run_id, spec.session, s, str(spec.cwd), spec.settings, shared)
            for s in ("stdout", "stderr", "events")
        }
        self.monitors = MonitorSet(
            ctx.plugins.monitors(), spec.settings, self.alert, on_monitor_stop
        )
        self._artifacts = ArtifactWitness(spec.settings.home, ctx.open_store, spec.cwd)

    def on_lines(self, stream: Stream, lines: list[bytes]) -> list[bool] | None:
        """Parse one chunk's lines and record their events as one batch; which lines were
        event lines (``None``: none)."""
        result = self._parsers.parse(lines, self._contexts[stream])
        if result.items:
            if self._note is not None:
                self._note(result.items)
            self.on_items(result.items)
        return result.claimed

    def on_items(self, items: list[Item]) -> None:
        """Record parsed events (metrics from the hot paths in columns, other events as such):
        store, run state, monitors, lifecycle listeners."""
        # gc deletes an announced file outside the run's folder only if it is still this one
        spec = self.ctx.spec
        items = witness(items, spec.cwd, self.ctx.run.created_at, spec.settings.home)
        items = self._artifacts(items)  # the content of announced artifacts, stored
        self.sink.extend(items)
        state = self.state
        for item in items:
            if isinstance(item, Event):
                state.update(item)
                if item.kind == "alert":
                    self.ctx.display.message(f"alert: {item.payload.get('text', '')}")
            else:
                state.update_lines(item)
        self.monitors.items(items)
        if self.ctx.notify_events:
            for event in expand(items):
                self.ctx.plugins.run_event(self.ctx.run, event)

    def alert(self, level: str, text: str) -> None:
        """Record an alert raised by a monitor (not offered to the monitors again)."""
        spec = self.ctx.spec
        event = Event(
            "alert", time.time(), self.state.step, {"level": level, "text": text}, spec.session
        )
        self.sink.add(event)
        self.state.update(event)
        self.ctx.display.message(f"alert: {text}")
        if self.ctx.notify_events:
            self.ctx.plugins.run_event(self.ctx.run, event)

    def close(self) -> None:
        """Close the store opened for artifact events, if any was."""
        self._artifacts.close()
