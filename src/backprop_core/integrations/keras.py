"""Keras 3: ``model.fit(..., initial_epoch=cb.initial_epoch, callbacks=[cb, ckpt])`` with
``cb = BackpropCallback(model_checkpoint=ckpt)``.

* logs the metrics of every finished epoch (``on_epoch_end``, step = batches trained so far)
  and, with ``log_every_n_batches``, batch metrics too;
* announces every file the given ``keras.callbacks.ModelCheckpoint`` writes (the callback
  wraps that instance's save, so the path and step are exact), with the number of finished
  epochs as the checkpoint's ``epoch``;
* when ``backprop_core.should_checkpoint()`` or ``should_stop()``, saves the model to the run's
  checkpoint folder (``.keras``) and announces it; on ``should_stop()`` it also sets
  ``model.stop_training = True`` so ``fit`` returns cleanly. Keras still calls
  ``on_epoch_end`` for the epoch it cut short: that epoch is neither logged nor saved by the
  ``ModelCheckpoint`` as a finished one;
* on a resumed session, continues the step where the checkpoint left it (the optimizer's
  iteration count of a loaded model, or ``BACKPROP_RESUME_STEP``) and offers the epoch to
  start from as ``initial_epoch`` (``BACKPROP_RESUME_EPOCH``: an epoch cut short is trained
  again from its first batch, since ``fit`` cannot start in the middle of one).

With ``KERAS_BACKEND=torch`` (or jax/tensorflow). Load ``backprop_core.resume_from()`` with
``keras.models.load_model`` (or ``load_weights``) before ``fit``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import keras

from backprop_core import sdk
from backprop_core.integrations._common import ensure_run, resume_number, scalar_metrics


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
        #: Batches trained so far, over every session of the run.
        self.global_step = resume_number("BACKPROP_RESUME_STEP") or 0
        #: The epoch ``fit`` should start from: pass it as ``initial_epoch``.
        self.initial_epoch = resume_number("BACKPROP_RESUME_EPOCH") or 0
        self.epoch = self.initial_epoch
        self._batches = 0  # of the current epoch
        self._cut_short = False  # the current epoch was stopped before its last batch
        if model_checkpoint is not None:
            self._wrap(model_checkpoint)

    def _wrap(self, checkpoint: Any) -> None:
        original = checkpoint._save_model

        def save_model(epoch: int, batch: int | None, logs: Mapping[str, Any] | None) -> None:
            if batch is None and self._cut_short:
                return  # an epoch cut short by the stop is not a finished one
            path = checkpoint._get_file_path(epoch, batch, logs)
            before = os.path.getmtime(path) if os.path.exists(path) else None
            original(epoch, batch, logs)
            if os.path.exists(path) and os.path.getmtime(path) != before and sdk.active_run():
                best = getattr(checkpoint, "save_best_only", False) or None
                finished = epoch + 1 if batch is None else epoch
                metrics = {**scalar_metrics(logs), "epoch": float(finished)}
                sdk.checkpoint(path, step=self.global_step, metrics=metrics, best=best)

        checkpoint._save_model = save_model

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        ensure_run(self.name, self.config)
        optimizer = getattr(self.model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        if iterations is not None:  # a model loaded from a checkpoint counts its batches
            self.global_step = max(self.global_step, int(iterations))

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.epoch = epoch
        self._batches = 0
        self._cut_short = False

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.global_step += 1
        self._batches = batch + 1
        every = self.log_every_n_batches
        if every and self.global_step % every == 0:
            metrics = scalar_metrics(logs)
            if metrics:
                sdk.log(metrics, step=self.global_step)
        stop = sdk.should_stop()
        if stop:
            steps = self.params.get("steps") if isinstance(self.params, dict) else None
            self._cut_short = not steps or self._batches < steps
        if self.checkpoint_on_request and (stop or sdk.should_checkpoint()):
            self._save_requested()
        if stop:
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self._cut_short:
            return  # its metrics cover part of an epoch: not an epoch's result
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
        steps = self.params.get("steps") if isinstance(self.params, dict) else None
        finished = self.epoch + 1 if steps and self._batches >= steps else self.epoch
        path = os.path.join(folder, f"backprop-epoch={self.epoch}-step={self.global_step}.keras")
        self.model.save(path)
        sdk.checkpoint(path, step=self.global_step, metrics={"epoch": float(finished)})
