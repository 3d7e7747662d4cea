"""Keras 3: ``model.fit(..., callbacks=[BackpropCallback(model_checkpoint=ckpt), ckpt])``.

* logs the epoch metrics (``on_epoch_end``, step = batches seen so far) and, with
  ``log_every_n_batches``, batch metrics too;
* announces every file the given ``keras.callbacks.ModelCheckpoint`` writes (the callback
  wraps that instance's save, so the path and step are exact);
* when ``backprop_core.should_checkpoint()`` or ``should_stop()``, saves the model to the run's
  checkpoint folder (``.keras``) and announces it; on ``should_stop()`` it also sets
  ``model.stop_training = True`` so ``fit`` returns cleanly.

With ``KERAS_BACKEND=torch`` (or jax/tensorflow). Resume by loading
``backprop_core.resume_from()`` with ``keras.models.load_model`` (or ``load_weights``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import keras

from backprop_core import sdk
from backprop_core.integrations._common import ensure_run, scalar_metrics


class BackpropCallback(keras.callbacks.Callback):
    def __init__(
        self,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        log_every_n_batches: int | None = None,
        model_checkpoint: Any | None = None,
        checkpoint_on_request: bool = True,
    ) -> None:
        super().__init__()
        self.name = name
        self.config = config
        self.log_every_n_batches = log_every_n_batches
        self.checkpoint_on_request = checkpoint_on_request
        self.global_step = 0
        self.epoch = 0
        if model_checkpoint is not None:
            self._wrap(model_checkpoint)

    def _wrap(self, checkpoint: Any) -> None:
        original = checkpoint._save_model

        def save_model(epoch: int, batch: int | None, logs: Mapping[str, Any] | None) -> None:
            path = checkpoint._get_file_path(epoch, batch, logs)
            before = os.path.getmtime(path) if os.path.exists(path) else None
            original(epoch, batch, logs)
            if os.path.exists(path) and os.path.getmtime(path) != before and sdk.active_run():
                best = getattr(checkpoint, "save_best_only", False) or None
                sdk.checkpoint(path, step=self.global_step, metrics=scalar_metrics(logs), best=best)

        checkpoint._save_model = save_model

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        ensure_run(self.name, self.config)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.global_step += 1
        every = self.log_every_n_batches
        if every and self.global_step % every == 0:
            metrics = scalar_metrics(logs)
            if metrics:
                sdk.log(metrics, step=self.global_step)
        stop = sdk.should_stop()
        if self.checkpoint_on_request and (stop or sdk.should_checkpoint()):
            self._save_requested()
        if stop:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        metrics = scalar_metrics(logs)
        if metrics:
            sdk.log({**metrics, "epoch": float(epoch)}, step=self.global_step)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        run = sdk.active_run()
        if run is not None:
            run.flush()

    def _save_requested(self) -> None:
        run = sdk.active_run()
        folder = run.checkpoint_dir if run is not None else None
        if folder is None:
            return
        path = os.path.join(folder, f"backprop-epoch={self.epoch}-step={self.global_step}.keras")
        self.model.save(path)
        sdk.checkpoint(path, step=self.global_step)
