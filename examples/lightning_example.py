"""PyTorch Lightning with the backprop callback (CPU, tiny model, generated data).

backprop run -m 1 examples/lightning_example.py    # time-boxed; saves at the stop
backprop resume RUN                                # continues at the saved global step
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

import backprop_core as bp
from backprop_core.integrations.lightning import BackpropCallback


class Regressor(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1)
        )

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], idx: int) -> None:
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=1e-3)


def main() -> None:
    torch.manual_seed(0)
    x = torch.randn(2048, 8)
    y = x.sum(dim=1, keepdim=True) + 0.1 * torch.randn(2048, 1)
    train = DataLoader(TensorDataset(x[:1792], y[:1792]), batch_size=32, shuffle=True)
    val = DataLoader(TensorDataset(x[1792:], y[1792:]), batch_size=64)
    trainer = pl.Trainer(
        max_epochs=50,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        log_every_n_steps=10,
        callbacks=[
            BackpropCallback(name="lightning-example"),
            pl.callbacks.ModelCheckpoint(monitor="val_loss", save_last=True),
        ],
    )
    trainer.fit(Regressor(), train, val, ckpt_path=bp.resume_from())


if __name__ == "__main__":
    main()
