"""The train stage's loop against a bare ``keras.Model.fit`` of the same Pix2Pix model: steps per second of
:func:`genforge.image2image.training.fit_translator` (GenForge's resumable fit: step checkpoints, early stopping,
progress, the batches drawn by ``tf.data`` from the training pairs) and of ``model.fit`` on the same number of
batches held in memory, with no callbacks. Both run the glyphs-pix2pix settings of params.yaml on its preprocessed
pairs (`dvc repro preprocess@glyphs-pix2pix` first), each for EPOCHS x STEPS steps with validation after each
epoch; the first epoch (tracing) is left out of both rates. Run twice in one process, alternating, so that the
machine's drift hits both.

    python bench/pix2pix_fit.py [STEPS] [EPOCHS]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from genforge.core.config import job, load_params  # noqa: E402
from genforge.core.trainer import set_threads  # noqa: E402
from genforge.image2image.training import (  # noqa: E402
    build_translator,
    draw_batch,
    fit_translator,
    load_split,
    to_model,
)

NAME = "glyphs-pix2pix"


class EpochClock(keras.callbacks.Callback):
    """The wall time of each epoch."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def staged(cfg, train, val) -> float:
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as tmp:
        fit_translator(cfg, train, val, seed=0, callbacks=[clock], checkpoint=f"{tmp}/ckpt")
    return cfg.steps_per_epoch * (len(clock.seconds) - 1) / sum(clock.seconds[1:])


def bare(cfg, train, val) -> float:
    steps = cfg.epochs * cfg.steps_per_epoch
    batches = [draw_batch(*train, cfg.batch_size, cfg.jitter, 0, s) for s in range(steps)]
    data = tf.data.Dataset.from_tensor_slices((np.stack([b[0] for b in batches]), np.stack([b[1] for b in batches])))
    model = build_translator(cfg, train[0].shape[1:], seed=0)
    clock = EpochClock()
    model.fit(data, epochs=cfg.epochs, steps_per_epoch=cfg.steps_per_epoch, callbacks=[clock], verbose=0,
              validation_data=(to_model(val[0]), to_model(val[1])), validation_batch_size=cfg.batch_size)
    return cfg.steps_per_epoch * (len(clock.seconds) - 1) / sum(clock.seconds[1:])


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    generator = job(load_params(), NAME)
    cfg = generator.train.model_copy(update={"steps_per_epoch": steps, "epochs": epochs, "patience": epochs,
                                             "checkpoint_steps": generator.train.checkpoint_steps})
    set_threads(cfg)
    processed = generator.paths.processed
    train, val = load_split(processed, "train", NAME), load_split(processed, "val", NAME)
    rates = {"train stage": [], "bare fit": []}
    for _ in range(2):
        rates["train stage"].append(staged(cfg, train, val))
        rates["bare fit"].append(bare(cfg, train, val))
    for name, values in rates.items():
        print(f"{name:<12} {np.mean(values):6.2f} steps/s  (runs: {', '.join(f'{v:.2f}' for v in values)})")
    print(f"ratio train stage / bare fit: {np.mean(rates['train stage']) / np.mean(rates['bare fit']):.3f} "
          f"(batch {cfg.batch_size}, {steps} steps per epoch, checkpoint every {cfg.checkpoint_steps} steps)")


if __name__ == "__main__":
    main()
