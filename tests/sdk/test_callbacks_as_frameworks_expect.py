"""The framework callbacks behave as each framework's users expect, with the real libraries
on CPU: Keras continues its step and epoch over sessions and never takes a stopped epoch for a
finished one; Lightning logs each value once, when it is computed, and keeps one logger folder
per run; Hugging Face sends end-of-training figures to the summary. No time box: the stop is
the script's own stop signal, so nothing depends on how long the imports take."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.sdk.helpers import only_run, run_script, store, write_script

pytestmark = pytest.mark.slow


def needs(*modules: str) -> pytest.MarkDecorator:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not installed")


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    base = {"BACKPROP_GPU__PROBE": "none", "KERAS_BACKEND": "torch", "CUDA_VISIBLE_DEVICES": ""}
    return run_cli(*args, env={**base, **(env or {})}, cwd=cwd, timeout=300)


KERAS = """
import os, signal
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np
import keras
import backprop_core as bp
from backprop_core.integrations.keras import BackpropCallback

rng = np.random.default_rng(0)
x = rng.normal(size=(128, 4)).astype("float32")
y = (x.sum(axis=1, keepdims=True) > 0).astype("float32")
if bp.resume_from():
    model = keras.models.load_model(bp.resume_from())
else:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])

class StopAt(keras.callbacks.Callback):
    # what the time box does: the stop signal, after batch 11; the stop is seen at batch 12,
    # four batches into the second epoch
    def __init__(self, cb):
        super().__init__()
        self.cb = cb
    def on_train_batch_end(self, batch, logs=None):
        if os.environ.get("STOP_AT") and self.cb.global_step == int(os.environ["STOP_AT"]):
            os.kill(os.getpid(), signal.SIGTERM)

saver = keras.callbacks.ModelCheckpoint("model-{epoch:02d}.keras")
callback = BackpropCallback(log_every_n_batches=1, model_checkpoint=saver)
print("START", callback.initial_epoch, flush=True)
model.fit(x, y, epochs=3, batch_size=16, verbose=0, initial_epoch=callback.initial_epoch,
          callbacks=[StopAt(callback), callback, saver])
print("END", callback.global_step, flush=True)
"""


@needs("keras", "torch")
def test_keras_resumes_at_its_step_and_epoch_and_a_stopped_epoch_is_not_finished(
    tmp_path: Path,
) -> None:
    script = write_script(tmp_path, KERAS)
    first = cli("run", str(script), cwd=tmp_path, env={"STOP_AT": "11"})
    assert first.returncode == 0, first.stderr
    assert "START 0" in first.stdout and "END 12" in first.stdout
    # Epoch 2 was cut short four batches in: ModelCheckpoint did not save it as finished.
    assert sorted(p.name for p in tmp_path.glob("model-*.keras")) == ["model-01.keras"]
    st = store()
    run = only_run(st)
    assert st.metric_series(run.id, "epoch").values == [0.0]  # no epoch result for the cut one
    stop_checkpoint = st.checkpoints(run.id)[-1]
    assert stop_checkpoint.step == 12 and stop_checkpoint.metrics["epoch"] == 1.0

    second = cli("resume", run.id, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    # from the stop's checkpoint, at the epoch it had not finished, step counting on
    assert "START 1" in second.stdout and "END 28" in second.stdout
    assert sorted(p.name for p in tmp_path.glob("model-*.keras")) == [
        "model-01.keras",
        "model-02.keras",
        "model-03.keras",
    ]
    st = store()
    assert st.sessions(run.id)[1].resumed_from == stop_checkpoint.path
    epochs = st.metric_series(run.id, "epoch")
    assert epochs.values == [0.0, 1.0, 2.0] and epochs.steps == [8, 20, 28]
    steps = [s for s in st.metric_series(run.id, "loss").steps if s is not None]
    # batch points (and epoch results, at their epoch's last batch) never jump back to 0
    assert steps == sorted(steps) and set(steps) == set(range(1, 29))


LIGHTNING = """
import os
import torch
import lightning.pytorch as pl
from torch.utils.data import DataLoader, TensorDataset
import backprop_core as bp
from backprop_core.integrations.lightning import BackpropCallback, logger_version

torch.manual_seed(0)

class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train_loss", loss)
        return loss
    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

data = DataLoader(TensorDataset(torch.randn(64, 4), torch.randn(64, 1)), batch_size=8)
val = DataLoader(TensorDataset(torch.randn(16, 4), torch.randn(16, 1)), batch_size=8)
logger = pl.loggers.CSVLogger("logs", version=logger_version())
print("VERSION", logger.version, flush=True)
trainer = pl.Trainer(max_epochs=3, accelerator="cpu", logger=logger, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=2,
                     callbacks=[BackpropCallback()])
trainer.fit(Tiny(), data, val)
"""


@needs("lightning", "torch")
def test_lightning_logs_each_value_once_when_it_is_computed(tmp_path: Path) -> None:
    script = write_script(tmp_path, LIGHTNING)
    result = cli("run", str(script), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    st = store()
    run = only_run(st)
    val = st.metric_series(run.id, "val_loss")
    assert val.steps == [8, 16, 24]  # one point per validation, not one per log step
    train = [s for s in st.metric_series(run.id, "train_loss").steps if s is not None]
    assert train == sorted(set(train)) and len(train) == 12  # every 2nd of 24 steps, once
    # one logger folder for every session of the run
    assert f"VERSION backprop-{run.id}" in result.stdout
    assert (tmp_path / "logs" / "lightning_logs" / f"backprop-{run.id}").is_dir() or (
        tmp_path / "logs" / f"backprop-{run.id}"
    ).is_dir()


HUGGINGFACE = """
import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments
import backprop_core as bp
from backprop_core.integrations.huggingface import BackpropCallback

torch.manual_seed(0)
config = GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2,
                    bos_token_id=0, eos_token_id=0)
tokens = torch.randint(0, 64, (32, 16))
data = [{"input_ids": t, "labels": t} for t in tokens]
args = TrainingArguments(output_dir="out", max_steps=4, per_device_train_batch_size=8,
                         logging_steps=1, eval_strategy="steps", eval_steps=2,
                         save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True,
                         dataloader_num_workers=0)
bp.init(name="hf")
trainer = Trainer(model=GPT2LMHeadModel(config), args=args, train_dataset=data,
                  eval_dataset=data[:8], callbacks=[BackpropCallback()])
trainer.train()
bp.finish()
"""


@needs("transformers", "torch")
def test_huggingface_end_of_training_figures_go_to_the_summary(tmp_path: Path) -> None:
    script = write_script(tmp_path, HUGGINGFACE)
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = run_script(script, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    st = store()
    run = only_run(st)
    keys = set(st.metric_keys(run.id))
    assert {"loss", "eval_loss"} <= keys
    figures = {"train_runtime", "total_flos", "eval_runtime", "train_samples_per_second"}
    assert not keys & figures, keys & figures
    assert not [k for k in keys if k.endswith("_per_second")]
    assert figures <= set(run.summary), run.summary
    assert [s for s in st.metric_series(run.id, "eval_loss").steps] == [2, 4]


def test_keras_backend_picks_the_framework_adapter(tmp_path: Path) -> None:
    from backprop_frameworks.adapters import PyTorchAdapter, TensorFlowAdapter

    script = tmp_path / "k.py"
    script.write_text("import keras\n")
    old = os.environ.pop("KERAS_BACKEND", None)
    try:
        os.environ["KERAS_BACKEND"] = "torch"
        assert PyTorchAdapter().detect(script) and not TensorFlowAdapter().detect(script)
        os.environ["KERAS_BACKEND"] = "tensorflow"
        assert TensorFlowAdapter().detect(script) and not PyTorchAdapter().detect(script)
        script.write_text('import os\nos.environ["KERAS_BACKEND"] = "torch"\nimport keras\n')
        assert PyTorchAdapter().detect(script)  # the script's own choice wins
    finally:
        os.environ.pop("KERAS_BACKEND", None)
        if old is not None:
            os.environ["KERAS_BACKEND"] = old


LIGHTNING_STOP = """
import os, signal
import torch
import lightning.pytorch as pl
from torch.utils.data import DataLoader, TensorDataset
import backprop_core as bp
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
        return loss
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

class StopAt(pl.Callback):
    # what the time box does: the stop signal, two batches into the second epoch
    def on_train_batch_end(self, trainer, *args):
        if os.environ.get("STOP_AT") and trainer.global_step == int(os.environ["STOP_AT"]):
            os.kill(os.getpid(), signal.SIGTERM)
    def on_train_start(self, trainer, pl_module):
        print("START", trainer.global_step, trainer.current_epoch, flush=True)

data = DataLoader(TensorDataset(torch.randn(32, 4), torch.randn(32, 1)), batch_size=4)
trainer = pl.Trainer(max_epochs=3, accelerator="cpu", logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1,
                     callbacks=[StopAt(), BackpropCallback()])  # the signal lands in a batch
trainer.fit(Tiny(), data, ckpt_path=bp.resume_from())
print("END", trainer.global_step, flush=True)
"""


@needs("lightning", "torch")
def test_lightning_stop_saves_at_the_end_of_the_epoch_when_it_fits_the_grace(
    tmp_path: Path,
) -> None:
    script = write_script(tmp_path, LIGHTNING_STOP)
    first = cli("run", "--grace", "60", str(script), cwd=tmp_path, env={"STOP_AT": "10"})
    assert first.returncode == 0, first.stderr
    assert "END 16" in first.stdout, first.stdout + first.stderr  # the epoch was finished
    st = store()
    run = only_run(st)
    assert [c.step for c in st.checkpoints(run.id)] == [16]
    second = cli("resume", run.id, "--grace", "60", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "START 16 2" in second.stdout and "END 24" in second.stdout
    # resumed at an epoch boundary: no "mid-epoch ... unreliable" warning from Lightning
    assert "unreliable" not in (second.stdout + second.stderr).lower()
