"""Training throughput of an image generator: GenForge's train-stage engine (``genforge.image.training.fit_generator``,
with its non-finite guard, early-stopping state, per-step loss bookkeeping and step checkpoints) against a bare
``keras.Model.fit`` of the same model on the same batches, in one process, as a ratio of steps per second.

    python bench/image_throughput.py --raw data/raw/mnist [--generator digits-vae] [--steps 200] [--rounds 3]
    python bench/image_throughput.py --raw data/raw/mnist --profile image-cpu-gan   # a profile's train section over it
    python bench/image_throughput.py --raw data/raw/mnist --arch diffusion          # another arch, the same sizes

Both sides build the generator's model with the same seed and read ``genforge.image.training.training_dataset``.
Each side runs ``--steps`` steps after a 20-step warm-up (tracing not counted), alternating ABBA over ``--rounds``
rounds; the ratio is of each side's best round (this machine's speed drifts from round to round), with the median
of the per-round ratios beside it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import yaml
from common import REPO

from genforge.core.config import load_params
from genforge.core.idx import read_mnist_split
from genforge.image.config import Train
from genforge.image.data import carve_validation
from genforge.image.training import RANGES, build_generator, fit_generator, training_dataset

WARMUP = 20


class Timer(keras.callbacks.Callback):
    """Steps per second over the steps after the first ``WARMUP``."""

    def on_train_begin(self, logs=None):
        self.step, self.start = 0, None

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step == WARMUP:
            self.start = time.perf_counter()

    def rate(self) -> float:
        return (self.step - WARMUP) / (time.perf_counter() - self.start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raw", type=Path, required=True, help="a folder holding MNIST's IDX files")
    parser.add_argument("--generator", default="digits-vae")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", help="a file name in profiles/ whose train section applies over the generator's")
    parser.add_argument("--arch", choices=("vae", "gan", "diffusion"), help="train this arch instead")
    args = parser.parse_args()
    gen = load_params(REPO / "params.yaml").generators[args.generator]
    steps = WARMUP + args.steps
    update = yaml.safe_load((REPO / f"profiles/{args.profile}.yaml").read_text())["train"] if args.profile else {}
    if args.arch:
        update.update(arch=args.arch, conditional=args.arch != "diffusion")
    cfg = Train(**{**gen.train.model_dump(), **update, "epochs": 1, "steps_per_epoch": steps, "checkpoint_steps": 50})
    images, labels = read_mnist_split(args.raw, "train")
    keep, val = carve_validation(len(images), gen.preprocess.val_fraction, 0)
    splits = {"train": (images[keep], labels[keep]), "val": (images[val], labels[val])}
    rates: dict[str, list[float]] = {"genforge": [], "bare": []}
    for r in range(args.rounds):
        for side in ("bare", "genforge") if r % 2 == 0 else ("genforge", "bare"):
            timer = Timer()
            if side == "genforge":
                with tempfile.TemporaryDirectory() as tmp:
                    fit_generator(cfg, splits, 10, seed=0, callbacks=[timer], checkpoint=Path(tmp) / "ckpt")
            else:
                model = build_generator(cfg, images.shape[1:], 10, seed=0)
                data = training_dataset(*splits["train"], RANGES[cfg.arch], batch_size=cfg.batch_size, steps=steps,
                                        epochs=1, seed=0)
                model.fit(data, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0)
            rates[side].append(timer.rate())
            print(f"round {r + 1} {side}: {rates[side][-1]:.2f} steps/s", flush=True)
    best = max(rates["genforge"]) / max(rates["bare"])
    paired = float(np.median(np.array(rates["genforge"]) / np.array(rates["bare"])))
    print(f"{args.generator} ({cfg.arch}): GenForge {max(rates['genforge']):.2f} steps/s, bare Keras fit "
          f"{max(rates['bare']):.2f} steps/s; ratio of best rounds {best:.3f}, median paired ratio {paired:.3f}")


if __name__ == "__main__":
    main()
