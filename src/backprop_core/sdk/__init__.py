"""The tracking SDK (docs/sdk.md): ``init``, ``log``, ``checkpoint``, ``should_stop``...

One process has at most one active run; the module-level functions act on it, and ``log`` (and
the other recording functions) start one with ``init()`` when none is active. Import cost is
kept minimal: the store, settings and environment capture load only in ``init``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backprop_core.sdk.run import Run, RunFinished

__all__ = [
    "Run",
    "RunFinished",
    "active_run",
    "checkpoint",
    "finish",
    "init",
    "log",
    "resume_from",
    "should_checkpoint",
    "should_stop",
    "summary",
]

#: Under ``backprop run`` events are delivered at least this often.
SUPERVISED_FLUSH_INTERVAL_S = 0.25

_active: Run | None = None


def active_run() -> Run | None:
    """The run ``log`` and friends record to, or ``None`` before ``init`` / after ``finish``."""
    return _active if _active is not None and not _active.finished else None


def _events_fd(env: Mapping[str, str]) -> int | None:
    """The supervisor's pipe if it is open for writing in this process, else ``None``."""
    raw = env.get("BACKPROP_EVENTS_FD", "").strip()
    if not raw.isdigit():
        return None
    fd = int(raw)
    try:
        import fcntl

        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        if flags & os.O_ACCMODE not in (os.O_WRONLY, os.O_RDWR):
            return None
        # Programs this script starts must not hold the pipe open (or write into it).
        fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.fcntl(fd, fcntl.F_GETFD) | fcntl.FD_CLOEXEC)
    except (OSError, ImportError):
        return None
    return fd


def init(
    name: str | None = None,
    project: str | None = None,
    config: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
) -> Run:
    """Start tracking: attach to the supervised run under ``backprop run``, otherwise create a
    run in the store. Returns the ``Run`` (also a context manager). Calling ``init`` while a
    run is active returns that run."""
    global _active
    current = active_run()
    if current is not None:
        return current
    from backprop_core.sdk import lifecycle
    from backprop_core.sdk.writer import BatchWriter, LineSink, StoreSink

    env = os.environ
    run_id = env.get("BACKPROP_RUN_ID", "").strip()
    if run_id:
        fd = _events_fd(env)
        writer = BatchWriter(LineSink(fd), SUPERVISED_FLUSH_INTERVAL_S, inline=fd is None)
        run_dir = env.get("BACKPROP_RUN_DIR")
        ckpt_dir = env.get("BACKPROP_CHECKPOINT_DIR")
        try:
            session = int(env.get("BACKPROP_SESSION", "1"))
        except ValueError:
            session = 1
        run = Run(
            run_id=run_id,
            name=name,
            project=project,
            run_dir=Path(run_dir) if run_dir else None,
            checkpoint_dir=Path(ckpt_dir) if ckpt_dir else None,
            session=session,
            writer=writer,
            env=env,
        )
        info: dict[str, Any] = {
            k: v for k, v in (("name", name), ("project", project)) if v is not None
        }
        if tags:
            info["tags"] = {str(k): str(v) for k, v in tags.items()}
        if info:
            run.event("init", info)
        if config:
            run.event("params", {"data": dict(config)})
        # The environment: the supervisor captures it for every run (supervisor/capture.py).
    else:
        from backprop_core.sdk.environment import EnvironmentProbe
        from backprop_core.sdk.standalone import FLUSH_INTERVAL_S, StandaloneBackend

        probe = EnvironmentProbe()
        from backprop_core.store.home import Home

        backend = StandaloneBackend.create(name=name, project=project, config=config, tags=tags)
        home = Home(backend.settings.home)
        heartbeat = backend.settings.liveness.heartbeat_seconds
        writer = BatchWriter(
            StoreSink(
                backend.store, backend.run_id, backend.session, backend.started_at, heartbeat
            ),
            FLUSH_INTERVAL_S,
        )
        run = Run(
            run_id=backend.run_id,
            name=name,
            project=project,
            run_dir=home.run_dir(backend.run_id),
            checkpoint_dir=home.checkpoint_dir(backend.run_id),
            session=backend.session,
            writer=writer,
            env=env,
            backend=backend,
        )
        writer.call_soon(lambda: backend.record_environment(probe.collect()))
    _active = run
    lifecycle.install(active_run)
    return run


def _run() -> Run:
    run = active_run()
    return run if run is not None else init()


def log(data: Mapping[str, Any], step: int | None = None) -> None:
    """Record metric values for ``step`` (see ``Run.log``); starts a run if none is active."""
    run = _active
    if run is None or run._finished:  # the attribute, not the property: this is the hot path
        run = init()
    run.log(data, step)


def checkpoint(
    path: str | os.PathLike[str],
    step: int | None = None,
    metrics: Mapping[str, Any] | None = None,
    best: bool | None = None,
) -> None:
    """Announce a saved checkpoint (see ``Run.checkpoint``)."""
    _run().checkpoint(path, step=step, metrics=metrics, best=best)


def summary(data: Mapping[str, Any]) -> None:
    """Merge ``data`` into the run summary."""
    _run().summary(data)


def resume_from() -> str | None:
    """The checkpoint this session should load, or ``None`` (works without ``init``)."""
    run = active_run()
    if run is not None:
        return run.resume_from()
    return os.environ.get("BACKPROP_RESUME_FROM") or None


def should_checkpoint() -> bool:
    """True when a checkpoint is due (interval, deadline near, or stop asked)."""
    run = active_run()
    return run.should_checkpoint() if run is not None else False


def should_stop() -> bool:
    """True once the stop signal arrived (requires an active run: the handler is its)."""
    run = active_run()
    return run.should_stop() if run is not None else False


def finish(status: str | None = None) -> None:
    """Deliver everything and end the active run (no-op without one)."""
    run = active_run()
    if run is not None:
        run.finish(status)
