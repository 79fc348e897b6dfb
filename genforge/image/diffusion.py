"""A small denoising diffusion model: DDPM training (Ho et al. 2020, algorithm 1: predict the noise added at a
random step) and deterministic DDIM sampling (Song et al. 2021, eq. 12 with eta = 0) in fewer steps, on a U-Net with
a sinusoidal step embedding (Vaswani et al. 2017, as in Ho et al. 2020, appendix B). Sampling uses the weights'
exponential moving average when the optimizer keeps one (``keras.optimizers.Adam(use_ema=True)``: ``Model.fit``
swaps them in at the end of training).

Images are ``float32 (B, H, W, C)`` in [-1, 1]; ``H`` and ``W`` divisible by ``2 ** (len(widths) - 1)``.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from genforge.image.models import check_halvings
from genforge.image.sampling import generate


def alpha_bars(schedule: str, timesteps: int) -> np.ndarray:
    """``alpha_bar_t = prod_{s<=t} (1 - beta_s)`` for ``t = 1..timesteps``, ``float64 (timesteps,)``.

    ``linear``: betas from 1e-4 to 0.02 (Ho et al. 2020, sec. 4, for T = 1000, scaled by ``1000 / timesteps``);
    ``cosine``: ``f(t) / f(0)``, ``f(t) = cos((t / T + s) / (1 + s) * pi / 2) ** 2``, ``s = 0.008``, each beta
    capped at 0.999 (Nichol & Dhariwal 2021, eq. 17).

    Raises:
        ValueError: an unknown schedule or fewer than 2 steps.
    """
    if timesteps < 2 or schedule not in ("linear", "cosine"):
        raise ValueError(f"schedule must be linear or cosine with 2 or more timesteps, got {schedule!r}, {timesteps}")
    if schedule == "linear":
        scale = 1000 / timesteps
        return np.cumprod(1 - np.linspace(1e-4 * scale, 0.02 * scale, timesteps))
    f = np.cos((np.arange(timesteps + 1) / timesteps + 0.008) / 1.008 * np.pi / 2) ** 2
    betas = np.minimum(1 - f[1:] / f[:-1], 0.999)
    return np.cumprod(1 - betas)


def ddim_step(x_t, eps, alpha_bar_t: float, alpha_bar_prev: float, clip: bool = True):
    """One deterministic DDIM step from ``x_t`` to the earlier step (Song et al. 2021, eq. 12, sigma = 0):
    ``x0 = (x_t - sqrt(1 - a_t) eps) / sqrt(a_t)`` (clipped to [-1, 1] when ``clip``), then
    ``x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev) eps``."""
    x0 = (x_t - math.sqrt(1 - alpha_bar_t) * eps) / math.sqrt(alpha_bar_t)
    if clip:
        x0 = np.clip(x0, -1.0, 1.0)
    return math.sqrt(alpha_bar_prev) * x0 + math.sqrt(1 - alpha_bar_prev) * eps


def step_embedding(t, dim: int):
    """Sinusoidal embedding (Vaswani et al. 2017, as in Ho et al. 2020) of integer steps ``(B,)`` ->
    ``float32 (B, dim)``: ``sin`` then ``cos`` of ``t * 10000^(-i / (dim / 2))``."""
    half = dim // 2
    freqs = tf.exp(-math.log(10000.0) * tf.range(half, dtype=tf.float32) / half)
    angles = tf.cast(t, tf.float32)[:, None] * freqs[None, :]
    return tf.concat([tf.sin(angles), tf.cos(angles)], axis=-1)


def _residual(x, emb, width: int):
    skip = x if x.shape[-1] == width else layers.Conv2D(width, 1)(x)
    h = layers.GroupNormalization(groups=min(8, x.shape[-1]))(x)
    h = layers.Conv2D(width, 3, padding="same", activation="swish")(h)
    h = h + layers.Dense(width)(emb)[:, None, None, :]
    h = layers.Conv2D(width, 3, padding="same")(layers.Activation("swish")(layers.GroupNormalization(groups=8)(h)))
    return h + skip


def unet(image_shape, widths=(32, 64), embedding_dim: int = 64) -> keras.Model:
    """``[x (B, H, W, C), step embedding (B, embedding_dim)]`` -> predicted noise ``(B, H, W, C)``: a residual block
    per width going down (average-pooled between widths) and up (upsampled, with the skip concatenated). Each block
    normalises in 8 groups (Wu & He 2018), so every width must be a multiple of 8."""
    x = inputs = keras.Input(image_shape)
    emb_in = keras.Input((embedding_dim,))
    emb = layers.Dense(embedding_dim, activation="swish")(emb_in)
    x = layers.Conv2D(widths[0], 3, padding="same")(x)
    skips = []
    for i, width in enumerate(widths):
        x = _residual(x, emb, width)
        skips.append(x)
        if i < len(widths) - 1:
            x = layers.AveragePooling2D(2)(x)
    for i, width in reversed(list(enumerate(widths))):
        if i < len(widths) - 1:
            x = layers.UpSampling2D()(x)
        x = _residual(layers.Concatenate()([x, skips[i]]), emb, width)
    out = layers.Conv2D(image_shape[-1], 3, padding="same", kernel_initializer="zeros", dtype="float32")(x)
    return keras.Model([inputs, emb_in], out, name="unet")


class Diffusion(keras.Model):
    """The denoiser and its schedule; ``train_step`` is DDPM's (MSE between the added and the predicted noise)."""

    def __init__(self, image_shape, *, widths=(32, 64), timesteps: int = 1000, schedule: str = "cosine",
                 embedding_dim: int = 64, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        check_halvings(image_shape, len(widths) - 1, "one halving between widths")
        self.image_shape, self.timesteps, self.embedding_dim = tuple(image_shape), timesteps, embedding_dim
        self.schedule, self.alpha_bar = schedule, alpha_bars(schedule, timesteps)
        self._alpha_bar = tf.constant(self.alpha_bar, tf.float32)
        self.denoiser = unet(image_shape, widths, embedding_dim)
        self.noise = keras.random.SeedGenerator(seed)
        self.tracker = keras.metrics.Mean(name="loss")
        self.built = True  # as the VAE's (genforge.image.models)

    @property
    def metrics(self):
        return [self.tracker]

    def predict_noise(self, x_t, t):
        """The denoiser's noise estimate for images ``x_t`` at integer steps ``t`` (0-based, ``(B,)``)."""
        return self.denoiser([x_t, step_embedding(t, self.embedding_dim)])

    def _loss(self, batch):
        images = batch[0] if isinstance(batch, tuple) else batch
        n = tf.shape(images)[0]
        t = keras.random.randint((n,), 0, self.timesteps, seed=self.noise)
        eps = keras.random.normal(tf.shape(images), seed=self.noise)
        a = tf.gather(self._alpha_bar, t)[:, None, None, None]
        x_t = tf.sqrt(a) * images + tf.sqrt(1 - a) * eps
        return tf.reduce_mean((eps - self.predict_noise(x_t, t)) ** 2)

    def train_step(self, batch):
        with tf.GradientTape() as tape:
            loss = self._loss(batch)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
        self.tracker.update_state(loss)
        return {"loss": self.tracker.result()}

    def test_step(self, batch):
        self.tracker.update_state(self._loss(batch))
        return {"loss": self.tracker.result()}

    @property
    def network(self) -> keras.Model:
        """The denoising U-Net: ``[x_t, step embedding]`` -> predicted noise."""
        return self.denoiser

    def spec(self, steps: int = 50) -> dict:
        """How :func:`genforge.image.sampling.generate` drives :attr:`network` (``steps`` DDIM steps)."""
        return {"arch": "diffusion", "image_shape": list(self.image_shape), "timesteps": self.timesteps,
                "schedule": self.schedule, "sampling_steps": steps, "embedding_dim": self.embedding_dim}

    def generate(self, n: int, seed: int, steps: int = 50) -> np.ndarray:
        """``n`` images ``uint8 (n, H, W, C)`` by ``steps`` DDIM steps from Gaussian noise of ``seed``, over evenly
        spaced steps of the training schedule (:func:`genforge.image.sampling.ddim_sample`)."""
        return generate(self.network, self.spec(steps), n, seed)
