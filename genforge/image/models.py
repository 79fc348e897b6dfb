"""Image generators as ``keras.Model`` subclasses with their own ``train_step`` (trained by
:func:`genforge.core.trainer.fit`): a variational autoencoder and a DCGAN.

Images enter as ``float32 (B, H, W, C)``: in [0, 1] for the VAE, in [-1, 1] for the GAN (:data:`RANGES`); ``H`` and
``W`` must be divisible by ``2 ** len(widths)`` (each block halves them). :func:`to_uint8` turns either range back
into pixels.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

RANGES = {"vae": (0.0, 1.0), "gan": (-1.0, 1.0)}  # the pixel range each model trains on


def to_uint8(images, value_range: tuple[float, float]) -> np.ndarray:
    """``float (N, H, W, C)`` images in ``value_range`` as ``uint8`` pixels (clipped, rounded)."""
    low, high = value_range
    unit = (np.asarray(images, dtype=np.float64) - low) / (high - low)
    return np.clip(np.rint(unit * 255), 0, 255).astype(np.uint8)


def check_halvings(image_shape: tuple[int, int, int], halvings: int, why: str = "one halving per width in widths"):
    """Raise ``ValueError`` unless the image's height and width are divisible by ``2 ** halvings``."""
    h, w, _ = image_shape
    if h % 2 ** halvings or w % 2 ** halvings:
        raise ValueError(f"image size {h}x{w} is not divisible by 2^{halvings} ({why}); resize or crop the images, "
                         "or use fewer widths")


def _mean(name: str) -> keras.metrics.Mean:
    return keras.metrics.Mean(name=name)


class VAE(keras.Model):
    """A convolutional variational autoencoder (Kingma & Welling 2014; keras-io ``vae.py``).

    Encoder: a stride-2 3x3 ReLU convolution per width, then a dense layer to the posterior's mean and log-variance
    (``latent_dim`` each). Decoder ``conv``: a dense layer to the smallest feature map, a stride-2 transposed
    convolution per width in reverse, a 3x3 convolution to the channels; ``mlp``: dense sigmoid layers
    (``mlp_hidden``) then a dense layer to every pixel (the multilayer perceptron with sigmoid units of the seed).
    The decoder gives per-pixel logits of a Bernoulli (``likelihood="bernoulli"``) or the mean of a Gaussian of
    standard deviation ``sigma`` (``"gaussian"``). The loss is the negative ELBO in nats per image: the reconstruction
    negative log-likelihood summed over pixels, plus ``KL(q(z|x) || N(0, I))``.
    """

    def __init__(self, image_shape, *, latent_dim: int = 16, widths=(32, 64), decoder: str = "conv",
                 likelihood: str = "bernoulli", sigma: float = 0.1, mlp_hidden=(512,), seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if decoder not in ("conv", "mlp") or likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"decoder must be conv or mlp and likelihood bernoulli or gaussian, got {decoder!r} "
                             f"and {likelihood!r}")
        check_halvings(image_shape, len(widths))
        self.image_shape, self.latent_dim = tuple(image_shape), latent_dim
        self.likelihood, self.sigma = likelihood, sigma
        self.encoder = self._encoder(widths)
        self.decoder = self._conv_decoder(widths) if decoder == "conv" else self._mlp_decoder(mlp_hidden)
        self.noise = keras.random.SeedGenerator(seed)
        self.trackers = [_mean("loss"), _mean("reconstruction"), _mean("kl")]

    def _encoder(self, widths) -> keras.Model:
        x = inputs = keras.Input(self.image_shape)
        for width in widths:
            x = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(x)
        return keras.Model(inputs, layers.Dense(2 * self.latent_dim)(layers.Flatten()(x)), name="encoder")

    def _conv_decoder(self, widths) -> keras.Model:
        h, w, c = self.image_shape
        scale = 2 ** len(widths)
        x = inputs = keras.Input((self.latent_dim,))
        x = layers.Dense(h // scale * w // scale * widths[-1], activation="relu")(x)
        x = layers.Reshape((h // scale, w // scale, widths[-1]))(x)
        for width in reversed(widths):
            x = layers.Conv2DTranspose(width, 3, strides=2, padding="same", activation="relu")(x)
        return keras.Model(inputs, layers.Conv2D(c, 3, padding="same")(x), name="decoder")

    def _mlp_decoder(self, hidden) -> keras.Model:
        x = inputs = keras.Input((self.latent_dim,))
        for units in hidden:
            x = layers.Dense(units, activation="sigmoid")(x)
        x = layers.Dense(math.prod(self.image_shape))(x)
        return keras.Model(inputs, layers.Reshape(self.image_shape)(x), name="decoder")

    @property
    def metrics(self):
        return self.trackers

    def call(self, images):
        """The decoded mean of each image's posterior mean: a reconstruction in [0, 1]."""
        mean, _ = tf.split(self.encoder(images), 2, axis=-1)
        return self.decode(mean)

    def decode(self, z):
        """Latents ``(B, latent_dim)`` -> images ``float32 (B, H, W, C)`` in [0, 1] (the likelihood's mean)."""
        out = self.decoder(z)
        return tf.sigmoid(out) if self.likelihood == "bernoulli" else tf.clip_by_value(out, 0.0, 1.0)

    def negative_elbo(self, images) -> tuple[tf.Tensor, tf.Tensor]:
        """Per-image reconstruction NLL and KL, nats, each ``(B,)``, with one posterior sample."""
        mean, log_var = tf.split(self.encoder(images), 2, axis=-1)
        z = mean + tf.exp(0.5 * log_var) * keras.random.normal(tf.shape(mean), seed=self.noise)
        out = self.decoder(z)
        if self.likelihood == "bernoulli":
            nll = tf.nn.sigmoid_cross_entropy_with_logits(labels=images, logits=out)
        else:
            nll = 0.5 * ((images - out) / self.sigma) ** 2 + math.log(self.sigma) + 0.5 * math.log(2 * math.pi)
        kl = -0.5 * tf.reduce_sum(1 + log_var - mean ** 2 - tf.exp(log_var), axis=-1)
        return tf.reduce_sum(nll, axis=[1, 2, 3]), kl

    def _terms(self, images):
        images = images[0] if isinstance(images, tuple) else images  # (images, labels) batches: labels unused
        reconstruction, kl = (tf.reduce_mean(v) for v in self.negative_elbo(images))
        return reconstruction + kl, reconstruction, kl

    def train_step(self, images):
        with tf.GradientTape() as tape:
            loss, reconstruction, kl = self._terms(images)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
        return self._report(loss, reconstruction, kl)

    def test_step(self, images):
        return self._report(*self._terms(images))

    def _report(self, *values):
        for tracker, value in zip(self.trackers, values, strict=True):
            tracker.update_state(value)
        return {t.name: t.result() for t in self.trackers}

    def generate(self, n: int, seed: int) -> np.ndarray:
        """``n`` images ``uint8 (n, H, W, C)`` decoded from prior draws ``z ~ N(0, I)`` of ``seed``."""
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)
        return to_uint8(self.decode(z).numpy(), RANGES["vae"])


class DCGAN(keras.Model):
    """A deep convolutional GAN (Radford et al. 2016; keras-io ``dcgan_overriding_train_step.py``), optionally
    class-conditional (Mirza & Osindero 2014: the one-hot class joins the generator's noise and the
    discriminator's input as constant channels).

    Generator: noise ``(B, latent_dim)`` -> a dense layer to the smallest feature map -> a stride-2 4x4 transposed
    convolution with batch normalisation and LeakyReLU per width in reverse -> a 5x5 ``tanh`` convolution: images in
    [-1, 1]. Discriminator: a stride-2 4x4 LeakyReLU(0.2) convolution per width, dropout, a dense logit. Each has its
    own Adam (``compile(d_optimizer, g_optimizer)``; the paper's beta_1 is 0.5); the losses are the non-saturating
    binary cross-entropies of Goodfellow et al. (2014).
    """

    def __init__(self, image_shape, *, latent_dim: int = 64, widths=(64, 128), num_classes: int = 0,
                 dropout: float = 0.3, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        check_halvings(image_shape, len(widths))
        self.image_shape, self.latent_dim, self.num_classes = tuple(image_shape), latent_dim, num_classes
        self.generator = self._generator(widths)
        self.discriminator = self._discriminator(widths, dropout)
        self.noise = keras.random.SeedGenerator(seed)
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)
        self.trackers = [_mean("d_loss"), _mean("g_loss")]

    def _generator(self, widths) -> keras.Model:
        h, w, c = self.image_shape
        scale = 2 ** len(widths)
        x = inputs = keras.Input((self.latent_dim + self.num_classes,))
        x = layers.Dense(h // scale * w // scale * widths[-1])(x)
        x = layers.LeakyReLU(0.2)(layers.Reshape((h // scale, w // scale, widths[-1]))(x))
        for width in reversed(widths):
            x = layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False)(x)
            x = layers.LeakyReLU(0.2)(layers.BatchNormalization()(x))
        return keras.Model(inputs, layers.Conv2D(c, 5, padding="same", activation="tanh")(x), name="generator")

    def _discriminator(self, widths, dropout: float) -> keras.Model:
        h, w, c = self.image_shape
        x = inputs = keras.Input((h, w, c + self.num_classes))
        for width in widths:
            x = layers.LeakyReLU(0.2)(layers.Conv2D(width, 4, strides=2, padding="same")(x))
        x = layers.Dropout(dropout)(layers.Flatten()(x))
        return keras.Model(inputs, layers.Dense(1)(x), name="discriminator")

    @property
    def metrics(self):
        return self.trackers

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        d_optimizer.build(self.discriminator.trainable_variables)
        g_optimizer.build(self.generator.trainable_variables)

    def _conditioned(self, images, z, labels):
        """The generator's input and the discriminator's inputs for real and generated images."""
        if not self.num_classes:
            return z, images, None
        onehot = tf.one_hot(tf.cast(labels, tf.int32), self.num_classes)
        h, w, _ = self.image_shape
        planes = tf.tile(onehot[:, None, None, :], [1, h, w, 1])
        return tf.concat([z, onehot], -1), tf.concat([images, planes], -1), planes

    def _terms(self, batch, training: bool):
        images, labels = batch if isinstance(batch, tuple) else (batch, None)
        z = keras.random.normal((tf.shape(images)[0], self.latent_dim), seed=self.noise)
        g_input, real_input, planes = self._conditioned(images, z, labels)
        fake = self.generator(g_input, training=training)
        fake_input = fake if planes is None else tf.concat([fake, planes], -1)
        d_real = self.discriminator(real_input, training=training)
        d_fake = self.discriminator(fake_input, training=training)
        d_loss = self.bce(tf.ones_like(d_real), d_real) + self.bce(tf.zeros_like(d_fake), d_fake)
        return d_loss, self.bce(tf.ones_like(d_fake), d_fake)

    def train_step(self, batch):
        with tf.GradientTape(persistent=True) as tape:
            d_loss, g_loss = self._terms(batch, training=True)
        for loss, net, opt in ((d_loss, self.discriminator, self.d_optimizer),
                               (g_loss, self.generator, self.g_optimizer)):
            opt.apply_gradients(zip(tape.gradient(loss, net.trainable_variables), net.trainable_variables, strict=True))
        del tape
        return self._report(d_loss, g_loss)

    def test_step(self, batch):
        return self._report(*self._terms(batch, training=False))

    def _report(self, d_loss, g_loss):
        self.trackers[0].update_state(d_loss)
        self.trackers[1].update_state(g_loss)
        return {t.name: t.result() for t in self.trackers}

    def generate(self, n: int, seed: int, labels=None) -> np.ndarray:
        """``n`` images ``uint8 (n, H, W, C)`` from noise of ``seed``; a conditional model draws ``labels`` (default:
        the classes in turn, ``i % num_classes``).

        Raises:
            ValueError: labels given to an unconditional model, or not ``n`` of them.
        """
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)
        if self.num_classes:
            labels = np.arange(n) % self.num_classes if labels is None else np.asarray(labels)
            if labels.shape != (n,):
                raise ValueError(f"give one label per image: {n}, got shape {labels.shape}")
            z = np.concatenate([z, np.eye(self.num_classes, dtype=np.float32)[labels]], -1)
        elif labels is not None:
            raise ValueError("this generator is not class-conditional (num_classes 0): it takes no labels")
        return to_uint8(self.generator(z, training=False).numpy(), RANGES["gan"])
