"""What the supervisor has learned from a session's events so far (for display and decisions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain

from backprop_core.events.event import Event
from backprop_core.events.ingest import MetricLines


@dataclass
class SessionState:
    """What the session's events said so far: progress, last metrics, done, checkpoints."""

    step: int | None = None
    total: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    last_checkpoint: str | None = None
    done: bool = False
    events: int = 0

    def update(self, event: Event) -> None:
        self.events += 1
        if event.step is not None:
            self.step = event.step
        kind = event.kind
        if kind == "metrics":
            for key, value in event.data.items():
                if isinstance(value, (int, float)):
                    self.metrics[key] = float(value)
        elif kind == "progress":
            total = event.payload.get("total")
            if isinstance(total, int) and not isinstance(total, bool) and total > 0:
                self.total = total
        elif kind == "checkpoint_saved":
            path = event.payload.get("path")
            if isinstance(path, str):
                self.last_checkpoint = path
        elif kind == "done":
            self.done = True

    def update_lines(self, lines: MetricLines) -> None:
        """``update`` for a run of hot-path metrics events, without an ``Event`` each."""
        self.events += len(lines)
        for step in reversed(lines.steps):
            if step is not None:
                self.step = step
                break
        metrics = self.metrics
        metrics.update(chain.from_iterable(map(dict.items, lines.data)))  # no bytecode per line
        for key, value in metrics.items():
            if type(value) is not float:
                metrics[key] = float(value)
