"""Standalone mode: the SDK creates the run in the store and records its status itself."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backprop_core.settings import Settings
    from backprop_core.store.contract import Store

#: Standalone runs deliver at least this often: a hard kill loses at most this much.
FLUSH_INTERVAL_S = 0.5


class StandaloneBackend:
    """Owns the store connection of a standalone run: creates the run and its one session,
    records the environment, and sets the final status."""

    def __init__(
        self, settings: Settings, store: Store, run_id: str, started_at: float, session: int = 1
    ) -> None:
        self.settings = settings
        self.store = store
        self.run_id = run_id
        self.started_at = started_at
        self.session = session

    @classmethod
    def create(
        cls,
        *,
        name: str | None,
        project: str | None,
        config: Mapping[str, Any] | None,
        tags: Mapping[str, Any] | None,
    ) -> StandaloneBackend:
        from backprop_core.settings import resolve_settings
        from backprop_core.store.ids import new_run_id
        from backprop_core.store.opening import open_store
        from backprop_core.store.params import flatten, params_from_argv
        from backprop_core.store.process_identity import here, process_start_time
        from backprop_core.store.records import RunRecord, RunStatus, SessionRecord

        settings = resolve_settings()
        store = open_store(settings, reconcile=False)
        now = time.time()
        argv = list(sys.argv)
        script = argv[0] if argv and argv[0] not in ("", "-c", "-m") else None
        record = RunRecord(
            id=new_run_id(now),
            status=RunStatus.RUNNING,
            created_at=now,
            name=name,
            tags={str(k): str(v) for k, v in (tags or {}).items()},
            project=project,
            script=os.path.abspath(script) if script else None,
            argv=argv[1:],
            cwd=os.getcwd(),
            command=[sys.executable, *argv],
            framework="sdk",
            settings=dict(settings.config),
            started_at=now,
            # The SDK's config wins over the arguments, as under ``backprop run``.
            params={**params_from_argv(argv[1:]), **flatten(config or {})},
        )
        record = store.create_run_unique(record)
        pid = os.getpid()
        started = process_start_time(pid)
        scope = here()
        store.add_session(
            SessionRecord(
                run_id=record.id,
                number=1,
                status=RunStatus.RUNNING,
                started_at=now,
                pid=pid,
                pid_started=started,
                # This process supervises itself (and keeps the heartbeat, see StoreSink):
                # liveness checks see it die if it is killed.
                supervisor_pid=pid,
                supervisor_started=started,
                host=scope.host,
                boot_id=scope.boot_id,
                pid_namespace=scope.pid_namespace,
                heartbeat_at=now,
            )
        )
        return cls(settings, store, record.id, started_at=now)

    def record_environment(self, environment: dict[str, Any]) -> None:
        self.store.update_run(self.run_id, environment=environment)

    def finish(self, status: str, reason: str | None) -> None:
        from backprop_core.store.records import RunStatus

        final = RunStatus(status)
        now = time.time()
        active = max(0.0, now - self.started_at)
        # The store adds the session's active time into the run's.
        self.store.update_session(
            self.run_id,
            self.session,
            status=final,
            ended_at=now,
            reason=reason,
            active_seconds=active,
        )
        self.store.update_run(self.run_id, status=final, ended_at=now, reason=reason)
        self.store.close()
