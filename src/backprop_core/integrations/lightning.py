"""PyTorch Lightning: ``Trainer(callbacks=[BackpropCallback()])``.

* logs each value Lightning logs (``trainer.logged_metrics``, the names its loggers get:
  ``loss``, ``loss_step``/``loss_epoch``, ``val_loss``…) once, when it is computed, at
  ``trainer.global_step``: training values every ``log_every_n_steps`` batches, validation
  values after each validation, epoch values at the end of each epoch;
* announces every checkpoint the trainer writes (``ModelCheckpoint`` or
  ``trainer.save_checkpoint``) with its path, global step and metrics, as soon as it is on
  disk: the callback wraps this trainer's ``save_checkpoint``;
* when ``backprop_core.should_checkpoint()`` (interval, deadline near) it saves a checkpoint
  into the run's checkpoint folder; when ``should_stop()`` (the stop signal) it saves one and
  sets ``trainer.should_stop = True`` so the fit ends cleanly. If the epoch's remaining
  batches fit in half the grace period (``BACKPROP_GRACE_SECONDS``), it finishes the epoch
  first and saves at its end, a point Lightning resumes from exactly; otherwise it saves at
  once (and Lightning warns, on resuming, that a mid-epoch restart may be unreliable).

Resume with ``trainer.fit(model, ckpt_path=backprop_core.resume_from())``: Lightning restores
the global step, epoch and optimizer state. ``logger_version()`` keeps one logger folder for
all the sessions of a run.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl

from backprop_core import sdk
from backprop_core.integrations._common import ensure_run, scalar_metrics


def logger_version(default: str | int | None = None) -> str | int | None:
    """A logger ``version`` that stays the same over every session of a run under
    ``backprop run`` (``backprop-<run id>``), ``default`` elsewhere. Pass it to your logger,
    ``TensorBoardLogger("lightning_logs", version=logger_version())``, so that resumed
    sessions write to one folder (and ``ModelCheckpoint`` keeps its top-k in one place)
    instead of opening ``version_N+1`` each time."""
    run_id = os.environ.get("BACKPROP_RUN_ID")
    return f"backprop-{run_id}" if run_id else default


class BackpropCallback(pl.Callback):
    def __init__(
        self,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        log_every_n_steps: int | None = None,
        checkpoint_on_request: bool = True,
    ) -> None:
        """``log_every_n_steps`` defaults to the trainer's; ``checkpoint_on_request=False``
        leaves saving to your own ``ModelCheckpoint`` (stopping still happens)."""
        super().__init__()
        self.name = name
        self.config = config
        self.log_every_n_steps = log_every_n_steps
        self.checkpoint_on_request = checkpoint_on_request
        self._wrapped: set[int] = set()
        self._logged: dict[str, tuple[object, float]] = {}  # what each name last held
        self._batch_seconds: float | None = None
        self._last_batch_end: float | None = None
        self._stop_at_epoch_end = False

    # setup -----------------------------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if trainer.is_global_zero:
            ensure_run(self.name, self.config)
        self._wrap_save_checkpoint(trainer)

    def _wrap_save_checkpoint(self, trainer: pl.Trainer) -> None:
        if id(trainer) in self._wrapped:
            return
        self._wrapped.add(id(trainer))
        original = trainer.save_checkpoint

        def save_checkpoint(
            filepath: str | os.PathLike[str],
            weights_only: bool | None = None,
            storage_options: Any | None = None,
        ) -> None:
            original(os.fspath(filepath), weights_only, storage_options)
            if trainer.is_global_zero and sdk.active_run() is not None:
                path = os.fspath(filepath)
                best = any(
                    getattr(cb, "best_model_path", None) == path
                    for cb in trainer.checkpoint_callbacks
                )
                sdk.checkpoint(
                    path,
                    step=trainer.global_step,
                    metrics=scalar_metrics(trainer.callback_metrics),
                    best=best or None,
                )

        trainer.save_checkpoint = save_checkpoint  # type: ignore[method-assign]

    # logging ---------------------------------------------------------------------------------
    def _fresh(self, trainer: pl.Trainer) -> dict[str, float]:
        """The logged values computed since the last look: Lightning keeps every value in
        ``logged_metrics`` until it is computed again, and hands the same values back as new
        tensors after a validation, so a value counts when it is new and differs."""
        fresh: dict[str, float] = {}
        for key, value in trainer.logged_metrics.items():
            number = scalar_metrics({key: value}).get(key)
            if number is None:
                continue
            seen = self._logged.get(key)
            if seen is None or (seen[0] is not value and not _same(seen[1], number)):
                fresh[key] = number
            self._logged[key] = (value, number)
        return fresh

    def _log(self, trainer: pl.Trainer) -> None:
        if not trainer.is_global_zero or sdk.active_run() is None:
            return
        metrics = self._fresh(trainer)
        if metrics:
            sdk.log({**metrics, "epoch": float(trainer.current_epoch)}, step=trainer.global_step)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self._time_batch()
        every = self.log_every_n_steps or getattr(trainer, "log_every_n_steps", 0) or 1
        if trainer.global_step % every == 0:
            self._log(trainer)
        self._checkpoint_or_stop(trainer, batch_idx)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._log(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log(trainer)
        if self._stop_at_epoch_end:
            self._stop_at_epoch_end = False
            self._save(trainer)
            trainer.should_stop = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log(trainer)
        if self._stop_at_epoch_end:  # the fit ended before the epoch did (max_steps)
            self._stop_at_epoch_end = False
            self._save(trainer)
        run = sdk.active_run()
        if run is not None:
            run.flush()

    # time box --------------------------------------------------------------------------------
    def _time_batch(self) -> None:
        now = time.monotonic()
        if self._last_batch_end is not None:
            took = now - self._last_batch_end
            old = self._batch_seconds
            self._batch_seconds = took if old is None else 0.8 * old + 0.2 * took
        self._last_batch_end = now

    def _epoch_end_is_near(self, trainer: pl.Trainer, batch_idx: int) -> bool:
        """Whether the rest of the epoch fits in half the grace period after the stop."""
        try:
            grace = float(os.environ.get("BACKPROP_GRACE_SECONDS", ""))
        except ValueError:
            return False
        total = trainer.num_training_batches
        if self._batch_seconds is None or not math.isfinite(total):
            return False
        left = int(total) - (batch_idx + 1)
        return left * self._batch_seconds <= grace / 2

    def _save(self, trainer: pl.Trainer) -> None:
        run = sdk.active_run()
        folder = run.checkpoint_dir if run is not None else None
        if folder is not None:
            name = f"backprop-step={trainer.global_step}.ckpt"
            trainer.save_checkpoint(os.path.join(folder, name))

    def _checkpoint_or_stop(self, trainer: pl.Trainer, batch_idx: int) -> None:
        if self._stop_at_epoch_end:
            return  # finishing the epoch; saved and stopped at its end
        stop = sdk.should_stop()
        if (
            stop
            and self.checkpoint_on_request
            and self._epoch_end_is_near(trainer, batch_idx)
            and _let_epoch_finish(trainer)
        ):
            self._stop_at_epoch_end = True
            return
        if self.checkpoint_on_request and (stop or sdk.should_checkpoint()):
            self._save(trainer)
        if stop:
            trainer.should_stop = True


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _let_epoch_finish(trainer: pl.Trainer) -> bool:
    """Keep Lightning from ending the fit right after this batch because of the stop signal
    (its own SIGTERM handler). ``False`` where that cannot be done: then save at once."""
    connector = getattr(trainer, "_signal_connector", None)
    if connector is None or not hasattr(connector, "received_sigterm"):
        return False
    connector.received_sigterm = False
    return not trainer.received_sigterm
