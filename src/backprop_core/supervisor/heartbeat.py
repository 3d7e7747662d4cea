"""The session's heartbeat (docs/store.md, "Liveness"): every ``liveness.heartbeatSeconds`` a
thread of its own records that the supervisor is alive (``Store.beat``), off the output and
event paths. It stops when the process dies or is frozen, which is what readers on other hosts
and in other containers go by.

A supervisor frozen for longer than ``liveness.lostAfterSeconds`` (SIGSTOP, Ctrl-Z, a suspended
machine) finds its run marked ``lost`` when it wakes up; its next beat records it as running
again, so a live run is never left looking finished (and removable).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from backprop_core.store.contract import Store
from backprop_core.store.records import RunStatus
from backprop_core.supervisor.space import SpaceAlarm


class Heartbeat(threading.Thread):
    def __init__(
        self,
        run_id: str,
        session: int,
        open_store: Callable[[], Store],
        interval: float,
        alarm: SpaceAlarm,
        say: Callable[[str], None],
    ) -> None:
        super().__init__(name="backprop-heartbeat", daemon=True)
        self.run_id = run_id
        self.session = session
        self._open_store = open_store
        self.interval = interval
        self._alarm = alarm
        self._say = say
        self._halt = threading.Event()
        self._warned = False
        self.beats = 0

    def run(self) -> None:
        store: Store | None = None
        try:
            while not self._halt.wait(self.interval):
                try:
                    if store is None:
                        store = self._open_store()
                    store.beat(self.run_id, self.session, time.time())
                    self.beats += 1
                    self._revive_if_lost(store)
                except Exception as exc:  # the run goes on; readers will see the silence
                    if not self._alarm.report("the heartbeat", exc) and not self._warned:
                        self._warned = True
                        self._say(f"warning: could not record the heartbeat: {exc}")
        finally:
            if store is not None:
                store.close()

    def _revive_if_lost(self, store: Store) -> None:
        if store.get_run(self.run_id).status is not RunStatus.LOST:
            return
        store.update_session(
            self.run_id, self.session, status=RunStatus.RUNNING, ended_at=None, reason=None
        )
        store.update_run(self.run_id, status=RunStatus.RUNNING, ended_at=None, reason=None)
        self._say(
            "this run had been marked lost while its supervisor was silent (frozen or "
            "suspended); it is recorded as running again"
        )

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(10.0)
