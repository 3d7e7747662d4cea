"""The framework callbacks with the real libraries (CPU, tiny models, generated data):
time-boxed by ``backprop run``, then resumed from the checkpoint the callback announced."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

from backprop_core.store.records import RunStatus
from tests.conftest import run_cli
from tests.ready_box import ready_box_env
from tests.sdk.helpers import only_run, run_script, store, write_script

pytestmark = pytest.mark.slow

needs_run = pytest.mark.skipif(
    importlib.util.find_spec("backprop_core.cli.run") is None,
    reason="`backprop run` (backprop_core.cli.run) is not available",
)


def needs(module: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        importlib.util.find_spec(module) is None, reason=f"{module} is not installed"
    )


GRACE = "150"  # seconds; the scripts leave as soon as they have saved


def cli(
    *args: str, cwd: Path, timeout: float = 240, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {
        "BACKPROP_GPU__PROBE": "none",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "KERAS_BACKEND": "torch",
        "CUDA_VISIBLE_DEVICES": "",
    }
    return run_cli(*args, env={**base, **(env or {})}, cwd=cwd, timeout=timeout)


def time_boxed_then_resumed(tmp_path: Path, script: Path, box_seconds: float) -> None:
    """Run ``script`` in a short time box (counted from its first printed line, not from
    before its imports), resume it, and check the global step carried on from the checkpoint
    the callback announced.

    The scripts call ``bp.init()`` before importing their framework, so a stop may come while
    those imports still run (many seconds on a loaded machine): the stop is kept and the
    callback saves at the first step. The grace period is far longer than any import."""
    box = ready_box_env(tmp_path.parent / "site", box_seconds)
    first = cli("run", "--grace", GRACE, str(script), cwd=tmp_path, env=box)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "START_STEP 0" in first.stdout, first.stdout + first.stderr
    st = store()
    run = only_run(st)
    assert run.status == RunStatus.TIMEBOXED
    checkpoints = st.checkpoints(run.id)
    assert checkpoints, "the callback announced no checkpoint"
    last = checkpoints[-1]
    assert last.step is not None and last.step > 0 and Path(last.path).exists()
    loss_key = "train_loss" if "train_loss" in st.metric_keys(run.id) else "loss"
    steps = st.metric_series(run.id, loss_key).steps
    assert last.step == max(s for s in steps if s is not None)  # saved at the stop

    second = cli("resume", run.id, "--grace", GRACE, cwd=tmp_path, env=box)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"START_STEP {last.step}" in second.stdout, second.stdout + second.stderr
    steps = store().metric_series(run.id, loss_key).steps
    assert max(s for s in steps if s is not None) > last.step  # it went on from there
    sessions = store().sessions(run.id)
    assert len(sessions) == 2 and sessions[1].resumed_from == last.path


LIGHTNING = """
import backprop_core as bp
bp.init()  # first: a stop signal during the imports below is kept, not fatal
import time
import torch
import lightning.pytorch as pl
from torch.utils.data import DataLoader, TensorDataset
from backprop_core.integrations.lightning import BackpropCallback

torch.manual_seed(0)

class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        time.sleep(0.02)
        return loss
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

class Report(pl.Callback):
    def on_train_start(self, trainer, pl_module):
        print("START_STEP", trainer.global_step, flush=True)

data = DataLoader(TensorDataset(torch.randn(256, 4), torch.randn(256, 1)), batch_size=8)
trainer = pl.Trainer(max_epochs=1000, accelerator="cpu", logger=False,
                     enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, log_every_n_steps=1,
                     callbacks=[BackpropCallback(), Report()])
trainer.fit(Tiny(), data, ckpt_path=bp.resume_from())
print("END_STEP", trainer.global_step, flush=True)
"""


@needs_run
@needs("lightning")
def test_lightning_trainer_is_time_boxed_and_resumes_at_its_global_step(tmp_path: Path) -> None:
    script = write_script(tmp_path, LIGHTNING)
    time_boxed_then_resumed(tmp_path, script, 6)


HUGGINGFACE = """
import backprop_core as bp
bp.init()  # first: a stop signal during the imports below is kept, not fatal
import os
import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments
from backprop_core.integrations.huggingface import BackpropCallback

torch.manual_seed(0)
config = GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=2, n_head=2,
                    bos_token_id=0, eos_token_id=0)
model = GPT2LMHeadModel(config)
tokens = torch.randint(0, 64, (64, 16))
data = [{"input_ids": t, "labels": t} for t in tokens]

class Report(TrainerCallback):
    def on_train_begin(self, args, state, control, **kw):
        print("START_STEP", state.global_step, flush=True)

args = TrainingArguments(output_dir="out", max_steps=100000, per_device_train_batch_size=8,
                         logging_steps=1, save_strategy="no", report_to=[], use_cpu=True,
                         disable_tqdm=True, dataloader_num_workers=0)
trainer = Trainer(model=model, args=args, train_dataset=data,
                  callbacks=[BackpropCallback(), Report()])
trainer.train(resume_from_checkpoint=bp.resume_from())
print("END_STEP", trainer.state.global_step, flush=True)
"""


@needs_run
@needs("transformers")
def test_huggingface_trainer_is_time_boxed_and_resumes_at_its_global_step(
    tmp_path: Path,
) -> None:
    script = write_script(tmp_path, HUGGINGFACE)
    time_boxed_then_resumed(tmp_path, script, 6)


KERAS = """
import os
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np
import keras
import backprop_core as bp
from backprop_core.integrations.keras import BackpropCallback

rng = np.random.default_rng(0)
x = rng.normal(size=(128, 4)).astype("float32")
y = (x.sum(axis=1, keepdims=True) > 0).astype("float32")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
ckpt = keras.callbacks.ModelCheckpoint("model-{epoch:02d}.keras")
bp.init(name="keras")
model.fit(x, y, epochs=3, batch_size=16, verbose=0,
          callbacks=[BackpropCallback(log_every_n_batches=4, model_checkpoint=ckpt), ckpt])
bp.finish()
"""


@needs("keras")
@needs("torch")
def test_keras_model_logs_and_announces_checkpoints_through_the_callback(
    tmp_path: Path,
) -> None:
    script = write_script(tmp_path, KERAS)
    result = run_script(script, env={"KERAS_BACKEND": "torch", "CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 0, result.stderr
    st = store()
    run = only_run(st)
    assert run.status == RunStatus.COMPLETED
    keys = st.metric_keys(run.id)
    assert {"loss", "accuracy", "epoch"} <= set(keys)
    epochs = st.metric_series(run.id, "epoch")
    assert epochs.values == [0.0, 1.0, 2.0] and epochs.steps == [8, 16, 24]
    batch_loss_steps = [s for s in st.metric_series(run.id, "loss").steps if s is not None]
    assert [s for s in batch_loss_steps if s % 4 == 0 and s not in (8, 16, 24)]  # batch logs
    paths = [Path(c.path).name for c in st.checkpoints(run.id)]
    assert paths == ["model-01.keras", "model-02.keras", "model-03.keras"]
    assert [c.step for c in st.checkpoints(run.id)] == [8, 16, 24]
