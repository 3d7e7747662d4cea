"""Keras 3 (torch backend) with the backprop callback (CPU, tiny model, generated data).

KERAS_BACKEND=torch backprop run -m 1 examples/keras_example.py
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # after KERAS_BACKEND is set: keras reads it at import
import numpy as np

import backprop_core as bp
from backprop_core.integrations.keras import BackpropCallback


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2048, 8)).astype("float32")
    y = (x[:, :4].sum(axis=1, keepdims=True) > 0).astype("float32")
    resume = bp.resume_from()
    if resume and resume.endswith(".keras"):
        model = keras.models.load_model(resume)
    else:
        model = keras.Sequential(
            [
                keras.Input((8,)),
                keras.layers.Dense(32, activation="relu"),
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    saver = keras.callbacks.ModelCheckpoint("keras-example-{epoch:02d}.keras")
    callback = BackpropCallback(
        name="keras-example", log_every_n_batches=10, model_checkpoint=saver
    )
    model.fit(
        x,
        y,
        epochs=20,
        initial_epoch=callback.initial_epoch,  # a resumed session goes on from its epoch
        batch_size=64,
        validation_split=0.1,
        verbose=0,
        callbacks=[callback, saver],
    )
    bp.finish()


if __name__ == "__main__":
    main()
