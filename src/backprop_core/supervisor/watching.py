"""The watchers of one session (``backprop_register_watchers``), polled on a thread of their
own while the script runs and a last time once it ended; what they find is recorded like the
events the script prints."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from backprop_core.events.checkpoint_keys import checkpoint_key
from backprop_core.events.event import Event
from backprop_core.events.ingest import Item
from backprop_core.launch.spec import WatchContext, Watcher
from backprop_core.supervisor.context import SessionContext

#: The longest the thread sleeps, whatever the watchers' intervals.
MAX_SLEEP_SECONDS = 5.0


class Watching(threading.Thread):
    """The session's watchers. ``note`` learns which checkpoints the script announced itself
    (so a watcher does not record them again); ``deliver`` records what the watchers find."""

    def __init__(
        self,
        ctx: SessionContext,
        deliver: Callable[[list[Item]], None],
        last_step: Callable[[], int | None],
        reported_metrics: Callable[[], bool],
    ) -> None:
        super().__init__(name="backprop-watchers", daemon=True)
        spec = ctx.spec
        self._cwd = str(spec.cwd)
        self._deliver = deliver
        self._warn = ctx.display.message
        self._announced: dict[str, float] = {}
        self._halt = threading.Event()
        context = WatchContext(
            run_id=spec.run_id,
            session=spec.session,
            cwd=spec.cwd,
            home=spec.settings.home,
            settings=spec.settings,
            created_at=ctx.run.created_at,
            started_at=time.time(),
            last_step=last_step,
            announced=self._announced.get,
            reported_metrics=reported_metrics,
        )
        # Made now, before the script starts: each takes its baseline of what is there.
        self.watchers: list[Watcher] = []
        for name, cls in ctx.plugins.watchers().items():
            try:
                watcher = cls.create(context)
            except Exception as exc:
                self._warn(f"warning: watcher '{name}' failed to start: {exc}")
                continue
            if watcher is not None:
                self.watchers.append(watcher)

    def note(self, items: Sequence[Item]) -> None:
        """Remember the checkpoints the script announced among parsed ``items``."""
        for item in items:
            if isinstance(item, Event) and item.kind == "checkpoint_saved":
                path = item.payload.get("path")
                if isinstance(path, str) and path:
                    self._announced[checkpoint_key(path, self._cwd)] = time.time()

    def run(self) -> None:
        due = {id(w): time.monotonic() + w.poll_seconds for w in self.watchers}
        while self.watchers:
            now = time.monotonic()
            wait = min(due[id(w)] for w in self.watchers) - now
            if self._halt.wait(min(max(wait, 0.0), MAX_SLEEP_SECONDS)):
                return
            now = time.monotonic()
            for watcher in list(self.watchers):
                if due[id(watcher)] <= now:
                    self._call(watcher, watcher.poll)
                    due[id(watcher)] = time.monotonic() + watcher.poll_seconds

    def close(self) -> None:
        """Stop polling and give each watcher its last look (the script has ended)."""
        self._halt.set()
        if self.is_alive():
            self.join()
        for watcher in list(self.watchers):
            self._call(watcher, watcher.finish)

    def _call(self, watcher: Watcher, look: Callable[[float], list[Event]]) -> None:
        try:
            events = look(time.time())
        except Exception as exc:  # a broken watcher must not take the session down
            self.watchers.remove(watcher)
            self._warn(f"warning: watcher '{watcher.name}' stopped: {type(exc).__name__}: {exc}")
            return
        if events:
            self._deliver(list(events))
