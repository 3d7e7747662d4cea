"""Hugging Face Transformers: ``Trainer(..., callbacks=[BackpropCallback()])``.

* ``on_log``: logs the trainer's numeric logs (loss, learning rate, eval metrics) with
  ``state.global_step``; what describes the whole run rather than a step — the end of
  training's ``train_runtime``, ``train_loss`` (an average), ``total_flos``, and each
  evaluation's ``eval_runtime`` and ``*_per_second`` — goes to the run summary instead;
* ``on_save``: announces the ``checkpoint-N`` folder the trainer just wrote (``best`` when it
  is ``state.best_model_checkpoint``);
* at each step end, when ``backprop_core.should_checkpoint()`` (interval, deadline near) it sets
  ``control.should_save``; when ``should_stop()`` (the stop signal) it sets
  ``control.should_save`` and ``control.should_training_stop``, so the trainer saves a
  checkpoint and ends the loop cleanly.

Resume with ``trainer.train(resume_from_checkpoint=backprop_core.resume_from())``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from backprop_core import sdk
from backprop_core.integrations._common import ensure_run, scalar_metrics


class BackpropCallback(TrainerCallback):
    def __init__(
        self,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        checkpoint_on_request: bool = True,
    ) -> None:
        self.name = name
        self.config = config
        self.checkpoint_on_request = checkpoint_on_request

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if state.is_world_process_zero:
            ensure_run(self.name, self.config)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        if not state.is_world_process_zero or sdk.active_run() is None:
            return
        metrics = scalar_metrics(logs)
        # The last log of train() (train_runtime, its average train_loss…) and the speed and
        # size figures of each evaluation describe the run, not a point of a curve.
        done = "train_runtime" in metrics
        about = {k: v for k, v in metrics.items() if done or _is_run_figure(k)}
        if about:
            sdk.summary(about)
        series = {k: v for k, v in metrics.items() if k not in about}
        if series:
            sdk.log(series, step=state.global_step)

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if not state.is_world_process_zero or sdk.active_run() is None:
            return
        path = os.path.join(args.output_dir or ".", f"checkpoint-{state.global_step}")
        if os.path.isdir(path):
            best = state.best_model_checkpoint
            sdk.checkpoint(
                path,
                step=state.global_step,
                best=(best is not None and os.path.abspath(best) == os.path.abspath(path)) or None,
            )

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        stop = sdk.should_stop()
        if self.checkpoint_on_request and (stop or sdk.should_checkpoint()):
            control.should_save = True
        if stop:
            control.should_training_stop = True

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        run = sdk.active_run()
        if run is not None:
            run.flush()


def _is_run_figure(key: str) -> bool:
    """``train_runtime``, ``eval_runtime``, ``*_per_second``, ``total_flos``."""
    return key.endswith(("_runtime", "_per_second")) or key == "total_flos"
