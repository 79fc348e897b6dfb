"""Quality per CPU-second against keras-io's MNIST recipes (examples/generative/vae.py and
dcgan_overriding_train_step.py, fchollet 2020 and 2019), scored by GenForge's FID, KID, coverage and classifier
score on the same feature network, test digits and sample count.

    python bench/image_keras_io.py --raw data/raw/mnist --seconds 253              # the VAE
    python bench/image_keras_io.py --raw data/raw/mnist --seconds 300 --model gan  # the DCGAN

The recipe, rebuilt here from its description (its code is not copied): encoder 28x28x1 -> 3x3 stride-2 ReLU
convolutions of 32 and 64 -> a ReLU dense layer of 16 -> the posterior's mean and log-variance of a 2-d latent;
decoder 2 -> a ReLU dense layer to 7x7x64 -> 3x3 stride-2 ReLU transposed convolutions of 64 and 32 -> a 3x3
sigmoid transposed convolution; loss: the binary cross-entropy summed over pixels plus the KL term; Adam at its
default rate; batches of 128. Adapted only where it must be: it trains on MNIST's training split here (the recipe
trains on train and test together, which would score it on its own training data), and for ``--seconds`` of wall
time instead of 30 epochs. Its samples are decoded from ``z ~ N(0, I)``, unconditioned, as the recipe's latent grid
draws them.

The DCGAN recipe, rebuilt the same way: discriminator 28x28x1 -> 3x3 stride-2 LeakyReLU(0.2) convolutions of 64 and
128 -> global max-pooling -> a dense logit; generator 128-d noise -> a LeakyReLU dense layer to 7x7x128 -> two 4x4
stride-2 LeakyReLU transposed convolutions of 128 -> a 7x7 sigmoid convolution; each step trains the discriminator on
the fakes (label 1) and reals (label 0) with uniform label noise of 0.05, then the generator towards label 0; Adam
3e-4 for both, binary cross-entropy from logits, batches of 64. Adapted as the VAE: MNIST's training split only, and
``--seconds`` of wall time instead of 30 epochs.

GenForge's side of ``--model vae`` is the committed ``digits-vae`` (models/optimized/digits-vae, trained by `make run`
for the ``seconds`` recorded in metrics/digits-vae/train.json, which ``--seconds`` should match); both are scored by
:func:`genforge.image.evaluation.scores` against the first ``--samples`` test digits with the feature network of
data/processed/digits-vae. GenForge's side of ``--model gan`` is trained here, in the same run, for the same
``--seconds``: the train section of ``profiles/image-cpu-gan.yaml`` over digits-vae's, through
:func:`genforge.image.training.fit_generator` (the train stage's loop) on digits-vae's preprocessed splits.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
import yaml
from common import REPO
from keras import layers

from genforge.core.idx import read_mnist_split
from genforge.image.config import Train
from genforge.image.data import scale
from genforge.image.evaluation import scores
from genforge.image.features import embed
from genforge.image.sampling import generate, to_uint8
from genforge.image.shards import load_split
from genforge.image.store import load_generator
from genforge.image.training import fit_generator, spec


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


class RecipeDCGAN(keras.Model):
    """keras-io's DCGAN as the module doc describes it."""

    def __init__(self, latent_dim: int = 128):
        super().__init__()
        self.latent_dim = latent_dim
        x = inputs = keras.Input((28, 28, 1))
        for width in (64, 128):
            x = layers.LeakyReLU(0.2)(layers.Conv2D(width, 3, strides=2, padding="same")(x))
        self.discriminator = keras.Model(inputs, layers.Dense(1)(layers.GlobalMaxPooling2D()(x)))
        z = keras.Input((latent_dim,))
        y = layers.Reshape((7, 7, 128))(layers.LeakyReLU(0.2)(layers.Dense(7 * 7 * 128)(z)))
        for _ in range(2):
            y = layers.LeakyReLU(0.2)(layers.Conv2DTranspose(128, 4, strides=2, padding="same")(y))
        self.generator = keras.Model(z, layers.Conv2D(1, 7, padding="same", activation="sigmoid")(y))
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)
        self.d_optimizer, self.g_optimizer = keras.optimizers.Adam(3e-4), keras.optimizers.Adam(3e-4)

    def train_step(self, real):
        n = tf.shape(real)[0]
        fake = self.generator(tf.random.normal((n, self.latent_dim)))
        labels = tf.concat([tf.ones((n, 1)), tf.zeros((n, 1))], axis=0)
        labels += 0.05 * tf.random.uniform(tf.shape(labels))
        with tf.GradientTape() as tape:
            d_loss = self.bce(labels, self.discriminator(tf.concat([fake, real], axis=0)))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights, strict=True))
        with tf.GradientTape() as tape:
            g_loss = self.bce(tf.zeros((n, 1)), self.discriminator(self.generator(
                tf.random.normal((n, self.latent_dim)))))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights, strict=True))
        return {"d_loss": d_loss, "g_loss": g_loss}


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


def recipe_vae(train: np.ndarray, args, budget: Budget) -> dict:
    """keras-io's VAE trained for ``--seconds``; its samples decoded from ``z ~ N(0, I)``; beside the committed
    digits-vae's samples (:func:`genforge.image.sampling.generate`, the seed of the evaluate stage)."""
    recipe = RecipeVAE()
    recipe.compile(optimizer=keras.optimizers.Adam())
    recipe.fit(scale(train, (0.0, 1.0)), epochs=1000, batch_size=128, callbacks=[budget], verbose=0)
    z = np.random.default_rng(args.seed).standard_normal((args.samples, 2)).astype(np.float32)
    network, spec = load_generator(REPO / "models/optimized/digits-vae")
    trained_for = json.loads((REPO / "metrics/digits-vae/train.json").read_text())["seconds"]
    print(f"keras-io recipe: {budget.steps} steps in {args.seconds:.0f} s; digits-vae: trained for {trained_for:.0f} s")
    return {"keras-io vae.py recipe": to_uint8(recipe.decoder.predict(z, batch_size=512, verbose=0), (0.0, 1.0)),
            "GenForge digits-vae": generate(network, spec, args.samples, args.seed)}


def recipe_gan(train: np.ndarray, args, budget: Budget) -> dict:
    """keras-io's DCGAN and GenForge's DCGAN of profiles/image-cpu-gan.yaml, each trained for ``--seconds``."""
    recipe = RecipeDCGAN()
    recipe.compile()
    data = tf.data.Dataset.from_tensor_slices(scale(train, (0.0, 1.0))).shuffle(1024, seed=args.seed).batch(64)
    recipe.fit(data.prefetch(32), epochs=1000, callbacks=[budget], verbose=0)
    z = np.random.default_rng(args.seed).standard_normal((args.samples, 128)).astype(np.float32)
    samples = {"keras-io DCGAN recipe": to_uint8(recipe.generator.predict(z, batch_size=512, verbose=0), (0.0, 1.0))}
    params = yaml.safe_load((REPO / "params.yaml").read_text())["generators"]["digits-vae"]["train"]
    cfg = Train(**{**params, **yaml.safe_load((REPO / "profiles/image-cpu-gan.yaml").read_text())["train"],
                   "epochs": 1000})
    processed = REPO / "data/processed/digits-vae"
    splits = {name: load_split(processed / name) for name in ("train", "val")}
    ours = Budget(args.seconds)
    model, state = fit_generator(cfg, splits, 10, seed=args.seed, callbacks=[ours])
    print(f"keras-io recipe: {budget.steps} steps in {args.seconds:.0f} s; GenForge image-cpu-gan: {ours.steps} steps "
          f"of batch {cfg.batch_size} in {args.seconds:.0f} s")
    samples["GenForge image-cpu-gan"] = generate(model.network, spec(model, cfg), args.samples, args.seed)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raw", type=Path, required=True, help="a folder holding MNIST's IDX files")
    parser.add_argument("--model", choices=("vae", "gan"), default="vae")
    parser.add_argument("--seconds", type=float, default=280.0)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args()
    train, _ = read_mnist_split(args.raw, "train")
    test, _ = read_mnist_split(args.raw, "t10k")
    keras.utils.set_random_seed(args.seed)
    samples = (recipe_vae if args.model == "vae" else recipe_gan)(train, args, Budget(args.seconds))
    feature_net = keras.saving.load_model(REPO / "data/processed/digits-vae/feature_net.keras", compile=False)
    real = embed(feature_net, test[:args.samples])
    print(f"{'':24} {'FID':>8} {'KID':>8} {'coverage':>9} {'classifier score':>17} {'classes missing':>16}")
    for name, images in samples.items():
        s = scores(feature_net, real, images, num_classes=10, k=5, kid_subsets=100, kid_subset_size=1000,
                   seed=args.seed)
        print(f"{name:24} {s['fid']:8.2f} {s['kid']:8.3f} {s['coverage']:9.3f} {s['classifier_score']:17.2f} "
              f"{s['classes_missing']:16d}")


if __name__ == "__main__":
    main()
