"""Image generators as ``keras.Model`` subclasses with their own ``train_step`` (trained by
:func:`genforge.core.trainer.fit`): a variational autoencoder and a DCGAN.

Images enter as ``float32 (B, H, W, C)``: in [0, 1] for the VAE, in [-1, 1] for the GAN (:data:`RANGES`); ``H`` and
``W`` must be divisible by ``2 ** len(widths)`` (each block halves them).
:func:`genforge.image.sampling.to_uint8` turns either range back into pixels. Each model's ``network`` and
``spec()`` are what :mod:`genforge.image.sampling` draws from and what the train stage saves.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from genforge.image.sampling import generate, to_uint8  # noqa: F401 (to_uint8: part of this module's interface)

RANGES = {"vae": (0.0, 1.0), "gan": (-1.0, 1.0)}  # the pixel range each model trains on


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
    standard deviation ``sigma`` (``"gaussian"``). Under a mixed dtype policy every network's last layer computes in
    float32 (Keras's mixed-precision guide), so that the losses and the sampling see float32. The loss is the
    negative ELBO in nats per image: the reconstruction negative log-likelihood summed over pixels, plus
    ``KL(q(z|x) || N(0, I))``.
    """

    def __init__(self, image_shape, *, latent_dim: int = 16, widths=(32, 64), decoder: str = "conv",
                 likelihood: str = "bernoulli", sigma: float = 0.1, mlp_hidden=(512,), num_classes: int = 0,
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        if decoder not in ("conv", "mlp") or likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"decoder must be conv or mlp and likelihood bernoulli or gaussian, got {decoder!r} "
                             f"and {likelihood!r}")
        check_halvings(image_shape, len(widths))
        self.image_shape, self.latent_dim = tuple(image_shape), latent_dim
        self.likelihood, self.sigma, self.num_classes = likelihood, sigma, num_classes
        self.encoder = self._encoder(widths)
        self.decoder = self._conv_decoder(widths) if decoder == "conv" else self._mlp_decoder(mlp_hidden)
        self.noise = keras.random.SeedGenerator(seed)
        self.trackers = [_mean("loss"), _mean("reconstruction"), _mean("kl")]
        self.built = True  # its networks are built: fit under a tf.distribute strategy must not trace call() to build

    def _encoder(self, widths) -> keras.Model:
        h, w, c = self.image_shape
        x = inputs = keras.Input((h, w, c + self.num_classes))
        for width in widths:
            x = layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(x)
        return keras.Model(inputs, layers.Dense(2 * self.latent_dim, dtype="float32")(layers.Flatten()(x)),
                           name="encoder")

    def _conv_decoder(self, widths) -> keras.Model:
        h, w, c = self.image_shape
        scale = 2 ** len(widths)
        x = inputs = keras.Input((self.latent_dim + self.num_classes,))
        x = layers.Dense(h // scale * w // scale * widths[-1], activation="relu")(x)
        x = layers.Reshape((h // scale, w // scale, widths[-1]))(x)
        for width in reversed(widths):
            x = layers.Conv2DTranspose(width, 3, strides=2, padding="same", activation="relu")(x)
        return keras.Model(inputs, layers.Conv2D(c, 3, padding="same", dtype="float32")(x), name="decoder")

    def _mlp_decoder(self, hidden) -> keras.Model:
        x = inputs = keras.Input((self.latent_dim + self.num_classes,))
        for units in hidden:
            x = layers.Dense(units, activation="sigmoid")(x)
        x = layers.Dense(math.prod(self.image_shape), dtype="float32")(x)
        return keras.Model(inputs, layers.Reshape(self.image_shape)(x), name="decoder")

    @property
    def metrics(self):
        return self.trackers

    def call(self, images, labels=None):
        """The decoded mean of each image's posterior mean: a reconstruction in [0, 1]."""
        onehot, planes = conditioning(labels, self.num_classes, self.image_shape)
        mean, _ = tf.split(self.encoder(_join(images, planes)), 2, axis=-1)
        return self.decode(_join(mean, onehot))

    def decode(self, z):
        """Latents ``(B, latent_dim [+ num_classes one-hot])`` -> images ``float32 (B, H, W, C)`` in [0, 1] (the
        likelihood's mean)."""
        out = self.decoder(z)
        return tf.sigmoid(out) if self.likelihood == "bernoulli" else tf.clip_by_value(out, 0.0, 1.0)

    def negative_elbo(self, images, labels=None) -> tuple[tf.Tensor, tf.Tensor]:
        """Per-image reconstruction NLL and KL, nats, each ``(B,)``, with one posterior sample; a conditional model
        reads ``labels`` ``int (B,)``."""
        onehot, planes = conditioning(labels, self.num_classes, self.image_shape)
        mean, log_var = tf.split(self.encoder(_join(images, planes)), 2, axis=-1)
        z = mean + tf.exp(0.5 * log_var) * keras.random.normal(tf.shape(mean), seed=self.noise)
        out = self.decoder(_join(z, onehot))
        if self.likelihood == "bernoulli":
            nll = tf.nn.sigmoid_cross_entropy_with_logits(labels=images, logits=out)
        else:
            nll = 0.5 * ((images - out) / self.sigma) ** 2 + math.log(self.sigma) + 0.5 * math.log(2 * math.pi)
        kl = -0.5 * tf.reduce_sum(1 + log_var - mean ** 2 - tf.exp(log_var), axis=-1)
        return tf.reduce_sum(nll, axis=[1, 2, 3]), kl

    def _terms(self, batch):
        images, labels = batch if isinstance(batch, tuple) else (batch, None)
        reconstruction, kl = (tf.reduce_mean(v) for v in self.negative_elbo(images, labels))
        return reconstruction + kl, reconstruction, kl

    def train_step(self, batch):
        with tf.GradientTape() as tape:
            loss, reconstruction, kl = self._terms(batch)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
        return self._report(loss, reconstruction, kl)

    def test_step(self, batch):
        return self._report(*self._terms(batch))

    def _report(self, *values):
        for tracker, value in zip(self.trackers, values, strict=True):
            tracker.update_state(value)
        return {t.name: t.result() for t in self.trackers}

    @property
    def network(self) -> keras.Model:
        """The decoder: latents (and one-hot classes) -> logits (bernoulli) or means (gaussian)."""
        return self.decoder

    def spec(self, temperature: float = 1.0) -> dict:
        """How :func:`genforge.image.sampling.generate` drives :attr:`network`."""
        return {"arch": "vae", "image_shape": list(self.image_shape), "latent_dim": self.latent_dim,
                "num_classes": self.num_classes, "temperature": temperature,
                "output": "logits" if self.likelihood == "bernoulli" else "mean", "sigma": self.sigma}

    def generate(self, n: int, seed: int, labels=None, temperature: float = 1.0) -> np.ndarray:
        """``n`` images ``uint8 (n, H, W, C)`` decoded from prior draws ``z ~ N(0, temperature^2 I)`` of ``seed``; a
        conditional model draws ``labels`` (default: the classes in turn). Raises ``ValueError`` as
        :func:`genforge.image.sampling.draw_inputs`."""
        return generate(self.network, self.spec(temperature), n, seed, labels=labels)


def conditioning(labels, num_classes: int, image_shape) -> tuple[tf.Tensor | None, tf.Tensor | None]:
    """The class condition of a batch (Mirza & Osindero 2014): ``labels`` ``int (B,)`` as one-hot vectors
    ``(B, num_classes)`` and as constant image planes ``(B, H, W, num_classes)``; ``(None, None)`` for an
    unconditional model (``num_classes`` 0)."""
    if not num_classes:
        return None, None
    onehot = tf.one_hot(tf.cast(labels, tf.int32), num_classes)
    h, w, _ = image_shape
    return onehot, tf.tile(onehot[:, None, None, :], [1, h, w, 1])


def _join(x, condition):
    return x if condition is None else tf.concat([x, condition], -1)


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
        self.built = True  # as the VAE's

    def _generator(self, widths) -> keras.Model:
        h, w, c = self.image_shape
        scale = 2 ** len(widths)
        x = inputs = keras.Input((self.latent_dim + self.num_classes,))
        x = layers.Dense(h // scale * w // scale * widths[-1])(x)
        x = layers.LeakyReLU(0.2)(layers.Reshape((h // scale, w // scale, widths[-1]))(x))
        for width in reversed(widths):
            x = layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False)(x)
            x = layers.LeakyReLU(0.2)(layers.BatchNormalization()(x))
        out = layers.Conv2D(c, 5, padding="same", activation="tanh", dtype="float32")(x)
        return keras.Model(inputs, out, name="generator")

    def _discriminator(self, widths, dropout: float) -> keras.Model:
        h, w, c = self.image_shape
        x = inputs = keras.Input((h, w, c + self.num_classes))
        for width in widths:
            x = layers.LeakyReLU(0.2)(layers.Conv2D(width, 4, strides=2, padding="same")(x))
        x = layers.Dropout(dropout)(layers.Flatten()(x))
        return keras.Model(inputs, layers.Dense(1, dtype="float32")(x), name="discriminator")

    @property
    def metrics(self):
        return self.trackers

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        d_optimizer.build(self.discriminator.trainable_variables)
        g_optimizer.build(self.generator.trainable_variables)

    def _terms(self, batch, training: bool):
        images, labels = batch if isinstance(batch, tuple) else (batch, None)
        z = keras.random.normal((tf.shape(images)[0], self.latent_dim), seed=self.noise)
        onehot, planes = conditioning(labels, self.num_classes, self.image_shape)
        fake = self.generator(_join(z, onehot), training=training)
        d_real = self.discriminator(_join(images, planes), training=training)
        d_fake = self.discriminator(_join(fake, planes), training=training)
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

    @property
    def network(self) -> keras.Model:
        """The generator: noise (and one-hot classes) -> images in [-1, 1]."""
        return self.generator

    def spec(self, temperature: float = 1.0) -> dict:
        """How :func:`genforge.image.sampling.generate` drives :attr:`network`."""
        return {"arch": "gan", "image_shape": list(self.image_shape), "latent_dim": self.latent_dim,
                "num_classes": self.num_classes, "temperature": temperature, "output": "tanh"}

    def generate(self, n: int, seed: int, labels=None, temperature: float = 1.0) -> np.ndarray:
        """``n`` images ``uint8 (n, H, W, C)`` from noise of ``seed``; a conditional model draws ``labels``
        (default: the classes in turn). Raises ``ValueError`` as :func:`genforge.image.sampling.draw_inputs`."""
        return generate(self.network, self.spec(temperature), n, seed, labels=labels)
