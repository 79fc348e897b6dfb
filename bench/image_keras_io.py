"""Quality per CPU-second against keras-io's MNIST VAE recipe (examples/generative/vae.py, fchollet 2020), scored by
GenForge's FID, KID, coverage and classifier score on the same feature network, test digits and sample count.

    python bench/image_keras_io.py --raw data/raw/mnist --seconds 280

The recipe, rebuilt here from its description (its code is not copied): encoder 28x28x1 -> 3x3 stride-2 ReLU
convolutions of 32 and 64 -> a ReLU dense layer of 16 -> the posterior's mean and log-variance of a 2-d latent;
decoder 2 -> a ReLU dense layer to 7x7x64 -> 3x3 stride-2 ReLU transposed convolutions of 64 and 32 -> a 3x3
sigmoid transposed convolution; loss: the binary cross-entropy summed over pixels plus the KL term; Adam at its
default rate; batches of 128. Adapted only where it must be: it trains on MNIST's training split here (the recipe
trains on train and test together, which would score it on its own training data), and for ``--seconds`` of wall
time instead of 30 epochs. Its samples are decoded from ``z ~ N(0, I)``, unconditioned, as the recipe's latent grid
draws them.

GenForge's side is the committed ``digits-vae`` (models/optimized/digits-vae, trained by `make run` for the
``seconds`` recorded in metrics/digits-vae/train.json, which ``--seconds`` should match); both are scored by
:func:`genforge.image.evaluation.scores` against the first ``--samples`` test digits with the feature network of
data/processed/digits-vae.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from common import REPO
from keras import layers

from genforge.image.data import read_mnist_split, scale
from genforge.image.evaluation import scores
from genforge.image.features import embed
from genforge.image.sampling import generate, to_uint8
from genforge.image.store import load_generator


class RecipeVAE(keras.Model):
    """keras-io's VAE as its text describes it (module doc)."""

    def __init__(self, latent_dim: int = 2):
        super().__init__()
        self.latent_dim = latent_dim
        x = inputs = keras.Input((28, 28, 1))
        for width in (32, 64):
            x = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(x)
        x = layers.Dense(16, activation="relu")(layers.Flatten()(x))
        self.encoder = keras.Model(inputs, [layers.Dense(latent_dim)(x), layers.Dense(latent_dim)(x)])
        z = keras.Input((latent_dim,))
        y = layers.Reshape((7, 7, 64))(layers.Dense(7 * 7 * 64, activation="relu")(z))
        for width in (64, 32):
            y = layers.Conv2DTranspose(width, 3, strides=2, padding="same", activation="relu")(y)
        self.decoder = keras.Model(z, layers.Conv2DTranspose(1, 3, padding="same", activation="sigmoid")(y))
        self.tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.tracker]

    def train_step(self, data):
        with tf.GradientTape() as tape:
            mean, log_var = self.encoder(data)
            z = mean + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mean))
            out = self.decoder(z)
            reconstruction = tf.reduce_mean(tf.reduce_sum(keras.losses.binary_crossentropy(data, out), axis=(1, 2)))
            kl = tf.reduce_mean(tf.reduce_sum(-0.5 * (1 + log_var - mean ** 2 - tf.exp(log_var)), axis=1))
            loss = reconstruction + kl
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        self.tracker.update_state(loss)
        return {"loss": self.tracker.result()}


class Budget(keras.callbacks.Callback):
    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self.steps = seconds, 0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raw", type=Path, required=True, help="a folder holding MNIST's IDX files")
    parser.add_argument("--seconds", type=float, default=280.0)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args()
    train, _ = read_mnist_split(args.raw, "train")
    test, _ = read_mnist_split(args.raw, "t10k")
    keras.utils.set_random_seed(args.seed)
    recipe = RecipeVAE()
    recipe.compile(optimizer=keras.optimizers.Adam())
    budget = Budget(args.seconds)
    recipe.fit(scale(train, (0.0, 1.0)), epochs=1000, batch_size=128, callbacks=[budget], verbose=0)
    z = np.random.default_rng(args.seed).standard_normal((args.samples, 2)).astype(np.float32)
    samples = {"keras-io vae.py recipe": to_uint8(recipe.decoder.predict(z, batch_size=512, verbose=0), (0.0, 1.0))}
    network, spec = load_generator(REPO / "models/optimized/digits-vae")
    samples["GenForge digits-vae"] = generate(network, spec, args.samples, args.seed)
    feature_net = keras.saving.load_model(REPO / "data/processed/digits-vae/feature_net.keras", compile=False)
    real = embed(feature_net, test[:args.samples])
    trained_for = json.loads((REPO / "metrics/digits-vae/train.json").read_text())["seconds"]
    print(f"keras-io recipe: {budget.steps} steps in {args.seconds:.0f} s; digits-vae: trained for {trained_for:.0f} s")
    print(f"{'':24} {'FID':>8} {'KID':>8} {'coverage':>9} {'classifier score':>17}")
    for name, images in samples.items():
        s = scores(feature_net, real, images, num_classes=10, k=5, kid_subsets=100, kid_subset_size=1000,
                   seed=args.seed)
        print(f"{name:24} {s['fid']:8.2f} {s['kid']:8.3f} {s['coverage']:9.3f} {s['classifier_score']:17.2f}")


if __name__ == "__main__":
    main()
