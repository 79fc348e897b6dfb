"""How good each image generator gets on real MNIST in a CPU-time budget: train it for ``--minutes``, draw
``--samples`` images, and score them with the domain feature network against the test set (FID, KID, coverage,
classifier score, classes generated), beside the real-vs-real floor. A planning figure for the default profiles
(the images issue asks for a classifier score of at least 9 and a coverage of at least 0.8).

    .venv/bin/python bench/image_quality.py --raw /tmp/mnist --models vae gan diffusion --minutes 3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from genforge.core.feature_distances import fid, kid
from genforge.core.idx import read_mnist_split
from genforge.image.data import scale
from genforge.image.diffusion import Diffusion
from genforge.image.features import build_feature_net, embed, train_feature_net
from genforge.image.metrics import class_histogram, classifier_score, precision_recall_density_coverage
from genforge.image.models import DCGAN, RANGES, VAE


def build(name: str, shape, widths: tuple[int, ...] | None):
    if name == "vae":
        model = VAE(shape, latent_dim=16, widths=widths or (32, 64))
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        return model, RANGES["vae"]
    if name == "gan":
        model = DCGAN(shape, latent_dim=64, widths=widths or (64, 128))
        model.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
        return model, RANGES["gan"]
    model = Diffusion((32, 32, 1), widths=widths or (32, 64, 64), timesteps=1000)
    model.compile(optimizer=keras.optimizers.Adam(1e-3, use_ema=True, ema_momentum=0.999))
    return model, RANGES["gan"]  # the diffusion model trains on the GAN's range, [-1, 1]


class Budget(keras.callbacks.Callback):
    """Stops training after ``seconds``."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self.start, self.steps = seconds, time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = True


def train(name: str, images: np.ndarray, minutes: float, batch: int,
          widths: tuple[int, ...] | None) -> tuple[object, int, float]:
    shape = (32, 32, 1) if name == "diffusion" else images.shape[1:]
    model, (low, high) = build(name, shape, widths)
    x = scale(images, (low, high))
    if name == "diffusion":
        x = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=low)  # 28 -> 32: three halvings
    data = tf.data.Dataset.from_tensor_slices(x).shuffle(10_000, seed=0).batch(batch, drop_remainder=True)
    budget = Budget(minutes * 60)
    model.fit(data.repeat(), epochs=1, steps_per_epoch=10**9, callbacks=[budget], verbose=0)
    return model, budget.steps, time.perf_counter() - budget.start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True)
    parser.add_argument("--models", nargs="+", default=["vae", "gan", "diffusion"])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--widths", type=int, nargs="+", help="the models' widths (default: each model's own)")
    parser.add_argument("--steps", type=int, default=50, help="DDIM sampling steps of the diffusion model")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    train_images, train_labels = read_mnist_split(args.raw, "train")
    test, _ = read_mnist_split(args.raw, "t10k")
    feature_net = build_feature_net(train_images.shape[1:], 10)
    train_feature_net(feature_net, train_images[:-5000], train_labels[:-5000], epochs=2)
    real, _ = embed(feature_net, test[:args.samples])
    held, held_p = embed(feature_net, train_images[-args.samples:])
    print(f"floor (held-out train): FID {fid(real, held):.2f}, KID {kid(real, held, subsets=20)['mean']:.4f}, "
          f"coverage {precision_recall_density_coverage(real, held)['coverage']:.3f}, "
          f"classifier score {classifier_score(held_p):.2f}")
    for name in args.models:
        model, steps, seconds = train(name, train_images[:-5000], args.minutes, args.batch,
                                      tuple(args.widths) if args.widths else None)
        start = time.perf_counter()
        samples = (model.generate(args.samples, seed=1, steps=args.steps) if name == "diffusion"
                   else model.generate(args.samples, seed=1))
        if name == "diffusion":
            samples = samples[:, 2:-2, 2:-2]
        sample_s = time.perf_counter() - start
        features, p = embed(feature_net, samples)
        prdc = precision_recall_density_coverage(real, features)
        print(f"{name}: {steps} steps in {seconds:.0f} s, {args.samples} samples in {sample_s:.1f} s; "
              f"FID {fid(real, features):.2f}, KID {kid(real, features, subsets=20)['mean']:.4f}, precision "
              f"{prdc['precision']:.3f}, recall {prdc['recall']:.3f}, coverage {prdc['coverage']:.3f}, classifier "
              f"score {classifier_score(p):.2f}, classes missing {class_histogram(p.argmax(1), 10)['missing']}",
              flush=True)


if __name__ == "__main__":
    main()
