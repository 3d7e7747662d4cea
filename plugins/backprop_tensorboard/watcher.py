"""The ``tensorboard`` watcher: the scalars a script writes to TensorBoard event files under
its working directory, recorded as the run's metrics while it runs ("Live TensorBoard logs" in
docs/interop.md)."""

from __future__ import annotations

import time

from backprop_core import Event, WatchContext, Watcher
from backprop_tensorboard.live import EventFileTail

#: A poll may take at most this share of the time between polls: a working directory with a
#: great many folders is looked at less often rather than keeping a core busy.
MAX_BUSY_SHARE = 0.05


class TensorBoardWatcher(Watcher):
    name = "tensorboard"

    def __init__(self, context: WatchContext, tail: EventFileTail) -> None:
        self.context = context
        self.tail = tail
        self.base_seconds = context.settings.tensorboard.poll_seconds
        self.poll_seconds = self.base_seconds
        self._problems_told = 0

    @classmethod
    def create(cls, context: WatchContext) -> TensorBoardWatcher | None:
        globs = context.settings.tensorboard.watch
        if not globs or not context.cwd.is_dir():
            return None
        tail = EventFileTail(
            context.cwd, globs, session=context.session, skip=[context.home.resolve()]
        )
        # Before the script starts: what is there already belongs to earlier sessions.
        tail.start_at_end()
        return cls(context, tail)

    def poll(self, now: float) -> list[Event]:
        # A script that reports metrics itself (SDK, event lines) is taken at its word: its
        # event files most often hold the same values (docs/interop.md).
        if self.context.reported_metrics():
            return []
        started = time.monotonic()
        events = self.tail.poll()
        self.poll_seconds = max(self.base_seconds, (time.monotonic() - started) / MAX_BUSY_SHARE)
        session = self.context.session
        for problem in self.tail.problems[self._problems_told :]:
            events.append(Event("alert", now, None, {"level": "warning", "text": problem}, session))
        self._problems_told = len(self.tail.problems)
        return events
