"""PyTorch Lightning: ``Trainer(callbacks=[BackpropCallback()])``.

* logs ``trainer.callback_metrics`` (scalars) with ``trainer.global_step`` every
  ``log_every_n_steps`` training batches and after every validation;
* announces every checkpoint the trainer writes (``ModelCheckpoint`` or
  ``trainer.save_checkpoint``) with its path, global step and metrics, as soon as it is on
  disk: the callback wraps this trainer's ``save_checkpoint``;
* when ``backprop_core.should_checkpoint()`` (interval, deadline near) it saves a checkpoint
  into the run's checkpoint folder, and when ``should_stop()`` (the stop signal) it saves one
  and sets ``trainer.should_stop = True`` so the fit ends cleanly.

Resume with ``trainer.fit(model, ckpt_path=backprop_core.resume_from())``: Lightning restores
the global step, epoch and optimizer state.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl

from backprop_core import sdk
from backprop_core.integrations._common import ensure_run, scalar_metrics


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
    def _log(self, trainer: pl.Trainer) -> None:
        if not trainer.is_global_zero or sdk.active_run() is None:
            return
        metrics = scalar_metrics(trainer.callback_metrics)
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
        every = self.log_every_n_steps or getattr(trainer, "log_every_n_steps", 0) or 1
        if trainer.global_step % every == 0:
            self._log(trainer)
        self._checkpoint_or_stop(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._log(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._log(trainer)
        run = sdk.active_run()
        if run is not None:
            run.flush()

    # time box --------------------------------------------------------------------------------
    def _checkpoint_or_stop(self, trainer: pl.Trainer) -> None:
        stop = sdk.should_stop()
        if self.checkpoint_on_request and (stop or sdk.should_checkpoint()):
            run = sdk.active_run()
            folder = run.checkpoint_dir if run is not None else None
            if folder is not None:
                name = f"backprop-step={trainer.global_step}.ckpt"
                trainer.save_checkpoint(os.path.join(folder, name))
        if stop:
            trainer.should_stop = True
