"""``Run``: one tracked run as the training script sees it, supervised or standalone.

Under ``backprop run`` (``BACKPROP_RUN_ID`` is set) the run attaches to the supervised run and
sends events protocol v1 lines on the pipe ``BACKPROP_EVENTS_FD`` (stdout when there is none);
the supervisor records them and owns the run's status. Standalone, the run is created in the
store and the SDK records events and status itself (see ``backprop_core.sdk.standalone``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backprop_core.errors import RunFinished
from backprop_core.sdk.values import coerce_metrics, coerce_step
from backprop_core.sdk.writer import BatchWriter, warn

if TYPE_CHECKING:
    from backprop_core.artifacts.records import ArtifactVersion
    from backprop_core.sdk.standalone import StandaloneBackend

#: Before the deadline, ``should_checkpoint`` turns true this long before it: 10% of the time
#: box, at least 30 s, but never more than half the box (short test boxes).
NEAR_DEADLINE_FRACTION = 0.10
NEAR_DEADLINE_MIN_S = 30.0


def near_deadline_margin(box_seconds: float) -> float:
    box = max(box_seconds, 0.0)
    return min(max(NEAR_DEADLINE_MIN_S, NEAR_DEADLINE_FRACTION * box), 0.5 * box)


def _float_env(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        warn(f"ignoring {name}={raw!r}: not a number")
        return None


class Run:
    """A tracked run. Create it with ``backprop_core.init()``; use it as a context manager to
    finish it (with status ``failed`` if the block raised)."""

    def __init__(
        self,
        *,
        run_id: str,
        name: str | None,
        project: str | None,
        run_dir: Path | None,
        checkpoint_dir: Path | None,
        session: int,
        writer: BatchWriter,
        env: Mapping[str, str],
        backend: StandaloneBackend | None = None,
    ) -> None:
        self._id = run_id
        self._name = name
        self._project = project
        self._dir = run_dir
        self._checkpoint_dir = checkpoint_dir
        self._session = session
        self._writer = writer
        self._append = writer.append
        self._inline = writer.inline
        self._backend = backend
        self._finished = False
        self._next_step = 0
        self._resume_from = env.get("BACKPROP_RESUME_FROM") or None
        self._deadline = _float_env(env, "BACKPROP_DEADLINE")
        self._checkpoint_every = _float_env(env, "BACKPROP_CHECKPOINT_EVERY")
        self._started = time.time()
        self._margin = (
            near_deadline_margin(self._deadline - self._started) if self._deadline else 0.0
        )
        self._last_checkpoint = self._started
        self._stop_flag: list[float] = []  # set by the signal handler: [time of the signal]

    # identity ----------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._id

    @property
    def name(self) -> str | None:
        return self._name

    @property
    def project(self) -> str | None:
        return self._project

    @property
    def session(self) -> int:
        return self._session

    @property
    def supervised(self) -> bool:
        """True under ``backprop run``; False when the SDK records the run itself."""
        return self._backend is None

    @property
    def dir(self) -> Path | None:
        """The run's folder (logs, events, checkpoints) when known."""
        return self._dir

    @property
    def checkpoint_dir(self) -> Path | None:
        """A suggested folder for checkpoints (created on first access)."""
        if self._checkpoint_dir is not None:
            if self._dir is not None and self._checkpoint_dir.parent == self._dir:
                from backprop_core.store.home import make_run_folder

                make_run_folder(self._dir)
            self._checkpoint_dir.mkdir(parents=True, exist_ok=True)
        return self._checkpoint_dir

    @property
    def deadline(self) -> float | None:
        """Unix time at which ``backprop run`` sends the stop signal, as of the session's start
        (pauses move the real deadline later); ``None`` without a time box."""
        return self._deadline

    @property
    def remaining(self) -> float | None:
        """Seconds until ``deadline`` (never negative), or ``None`` without a time box."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.time())

    @property
    def finished(self) -> bool:
        return self._finished

    # logging ------------------------------------------------------------------------------
    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        """Record metric values (numbers; numpy/torch scalars are read with ``.item()``).

        Without ``step``, the step after the previous call's is used. Cheap: the values are
        checked and appended to a buffer; a background thread does the rest.
        """
        if self._finished:
            raise RunFinished(f"run {self._id} is finished; call backprop_core.init() again")
        try:
            values = data.values()
        except AttributeError:
            raise TypeError(
                f"metrics must be a dict of name -> number, got {type(data).__name__}"
            ) from None
        for value in values:
            kind = type(value)
            if kind is not float and kind is not int:
                payload = coerce_metrics(data)
                break
        else:
            payload = dict(data)
        if step is None:
            step = self._next_step
        elif type(step) is not int:
            step = coerce_step(step)
        self._next_step = step + 1
        now = time.time()
        self._append(("metrics", now, step, payload))
        if self._inline:
            self._writer.maybe_flush(now)

    def checkpoint(
        self,
        path: str | os.PathLike[str],
        step: int | None = None,
        metrics: Mapping[str, Any] | None = None,
        best: bool | None = None,
    ) -> None:
        """Announce a checkpoint the script has saved (the path is made absolute). Delivered
        at once, so it is recorded even if the process is killed right after."""
        if self._finished:
            raise RunFinished(f"run {self._id} is finished; call backprop_core.init() again")
        payload: dict[str, Any] = {"path": os.path.abspath(os.fspath(path))}
        if step is None and self._next_step > 0:
            step = self._next_step - 1
        elif step is not None:
            step = coerce_step(step)
        if metrics:
            payload["metrics"] = coerce_metrics(metrics)
        if best is not None:
            payload["best"] = bool(best)
        self._last_checkpoint = time.time()
        self._append(("checkpoint_saved", self._last_checkpoint, step, payload))
        self._writer.flush()

    def log_artifact(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        type: str = "file",
        aliases: Iterable[str] = (),
        metadata: Mapping[str, Any] | None = None,
        *,
        link: bool = False,
    ) -> ArtifactVersion:
        """Record the file or folder at ``path`` as a new version of artifact ``name``
        (default: its file name) produced by this run (docs/artifacts.md). Returns once the
        content is stored; the version's number is set standalone, ``None`` under
        ``backprop run`` (the supervisor records it moments later). ``link=True`` hands the
        file over: it may be hard-linked into the store and made read-only, not copied."""
        from backprop_core.sdk.artifacts import log_artifact

        if self._finished:
            raise RunFinished(f"run {self._id} is finished; call backprop_core.init() again")
        return log_artifact(self, path, name, type, aliases, metadata, link)

    def use_artifact(self, ref: str, version: str | int = "latest") -> Path:
        """A local, read-only path holding artifact ``ref`` (``"name"``, ``"name:v3"``,
        ``"name:best"``), recorded as this run's input."""
        from backprop_core.sdk.artifacts import use_artifact

        if self._finished:
            raise RunFinished(f"run {self._id} is finished; call backprop_core.init() again")
        return use_artifact(self, ref, version)

    def summary(self, data: Mapping[str, Any]) -> None:
        """Merge ``data`` (any JSON values) into the run's summary."""
        if not isinstance(data, Mapping):
            raise TypeError(f"summary must be a dict, got {type(data).__name__}")
        self.event("summary", {"data": dict(data)})

    def progress(self, step: int, total: int | None = None, epoch: int | None = None) -> None:
        """Drive the progress display and ETA of ``backprop run``."""
        fields: dict[str, Any] = {"total": total, "epoch": epoch}
        self._append(
            (
                "progress",
                time.time(),
                coerce_step(step),
                {k: v for k, v in fields.items() if v is not None},
            )
        )

    def alert(self, text: str, level: str = "warning") -> None:
        """Show and record a message (``level``: info, warning, error)."""
        self.event("alert", {"level": level, "text": str(text)})

    def done(self) -> None:
        """Say training is finished: ``--until-done`` starts no further sessions."""
        self.event("done", {})

    def event(self, kind: str, fields: Mapping[str, Any], step: int | None = None) -> None:
        """Send any event of protocol v1 (``fields`` without ``event``)."""
        if self._finished:
            raise RunFinished(f"run {self._id} is finished; call backprop_core.init() again")
        self._append((kind, time.time(), step, dict(fields)))
        self._writer.wake()

    # resuming and stopping -------------------------------------------------------------
    def resume_from(self) -> str | None:
        """The checkpoint to load (``BACKPROP_RESUME_FROM``), or ``None`` for a fresh start."""
        return self._resume_from

    def request_stop(self) -> None:
        """What the signal handler calls: only records the time, nothing else."""
        if not self._stop_flag:
            self._stop_flag.append(time.time())

    def should_stop(self) -> bool:
        """True once the stop signal (SIGTERM/SIGINT) arrived: save a checkpoint and leave."""
        return bool(self._stop_flag)

    def should_checkpoint(self) -> bool:
        """True when a checkpoint is due: the interval elapsed since the last one, the deadline
        is near and none was announced since it became near, or a stop was asked and none was
        announced since."""
        last = self._last_checkpoint
        if self._stop_flag and last < self._stop_flag[0]:
            return True
        now = time.time()
        if self._checkpoint_every is not None and now - last >= self._checkpoint_every:
            return True
        if self._deadline is not None:
            near = self._deadline - self._margin
            if now >= near and last < near:
                return True
        return False

    # ending ------------------------------------------------------------------------------
    def flush(self) -> None:
        """Deliver everything logged so far, now."""
        self._writer.flush()

    def finish(self, status: str | None = None, reason: str | None = None) -> None:
        """Deliver everything and end the run. Standalone, ``status`` defaults to
        ``completed``; under ``backprop run`` the supervisor decides the status and
        ``status`` is ignored. Idempotent."""
        if self._finished:
            return
        self._finished = True
        self._writer.close()
        if self._backend is not None:
            self._backend.finish(status or "completed", reason)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if exc_type is None:
            self.finish()
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish("interrupted", "interrupted (KeyboardInterrupt)")
        else:
            self.finish("failed", f"{exc_type.__name__}: {exc}")

    def __repr__(self) -> str:
        mode = "supervised" if self.supervised else "standalone"
        return f"<backprop Run {self._id} ({mode})>"
