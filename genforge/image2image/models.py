"""The Pix2Pix networks (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks"), as
the TensorFlow pix2pix tutorial builds them, with depth and widths scaled to the image size: the U-Net generator, the
PatchGAN discriminator, the adversarial model that trains both, and the L1-only U-Net baseline.

Images are ``float32 (B, H, W, C)`` in [-1, 1] (the generator ends in ``tanh``).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers


def _init(seed: int):
    return keras.initializers.RandomNormal(0.0, 0.02, seed=seed)  # the paper's N(0, 0.02) weights


def _down(x, width: int, batchnorm: bool, seed: int):
    x = layers.Conv2D(width, 4, strides=2, padding="same", kernel_initializer=_init(seed), use_bias=False)(x)
    if batchnorm:
        x = layers.BatchNormalization()(x)
    return layers.LeakyReLU(0.2)(x)


def _up(x, width: int, dropout: float, seed: int):
    x = layers.Conv2DTranspose(width, 4, strides=2, padding="same", kernel_initializer=_init(seed),
                               use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    if dropout:
        x = layers.Dropout(dropout, seed=seed)(x)
    return layers.ReLU()(x)


def depth(size: int) -> int:
    """Stride-2 encoder blocks that take a ``size`` x ``size`` image down to 1x1 (8 at 256 px, as the paper's).

    Raises:
        ValueError: ``size`` is not a power of two of at least 4.
    """
    n = round(math.log2(size)) if size > 0 else 0
    if size < 4 or 2 ** n != size:  # noqa: PLR2004
        raise ValueError(f"the U-Net halves the image down to 1x1: its size must be a power of two, at least 4; got "
                         f"{size}")
    return n


def widths(size: int, filters: int, max_filters: int) -> list[int]:
    """The encoder's widths: ``filters`` doubling per block up to ``max_filters`` (64 .. 512 in the paper).

    >>> widths(64, 32, 256)
    [32, 64, 128, 256, 256, 256]
    """
    return [min(filters * 2 ** i, max_filters) for i in range(depth(size))]


def build_unet(image_shape: tuple[int, int, int], *, filters: int = 64, max_filters: int = 512,
               dropout: float = 0.5, dropout_blocks: int = 3, out_channels: int | None = None, faces: int = 0,
               face_embedding: int = 128, seed: int = 0):
    """The U-Net generator: ``(B, H, W, C)`` in [-1, 1] -> ``(B, H, W, out_channels)`` in [-1, 1]; with ``faces``
    > 0, zi2zi's conditional one: inputs ``[images, face]`` (``face`` an index ``(B,)`` < ``faces``), the face's
    learned embedding of ``face_embedding`` values joined to the 1x1 bottleneck, so that one generator draws any of
    the faces (Tian 2017, *zi2zi: Master Chinese Calligraphy with Conditional Adversarial Networks*).

    Encoder: a stride-2 4x4 convolution per width of :func:`widths` (batch normalisation except the first,
    LeakyReLU 0.2) down to 1x1; decoder: a stride-2 4x4 transposed convolution per encoder block but the last, in
    reverse (batch normalisation, dropout ``dropout`` in the ``dropout_blocks`` deepest: the paper's noise, active
    at test time only if asked, ReLU), each joined to its mirror's output; a last transposed convolution and
    ``tanh``. With ``training=False`` batch normalisation uses its moving statistics.

    Raises:
        ValueError: ``H != W`` or the size is not a power of two (:func:`depth`).
    """
    h, w, c = image_shape
    if h != w:
        raise ValueError(f"the U-Net takes square images, got {w}x{h}")
    sizes = widths(h, filters, max_filters)
    x = image = keras.Input(image_shape)
    skips = []
    for i, width in enumerate(sizes):
        x = _down(x, width, batchnorm=i > 0, seed=seed + i)
        skips.append(x)
    inputs = image
    if faces:
        face = keras.Input((), dtype="int32", name="face")
        embedded = layers.Embedding(faces, face_embedding, embeddings_initializer=_init(seed + 300))(face)
        x = layers.Concatenate()([x, layers.Reshape((1, 1, face_embedding))(embedded)])
        inputs = [image, face]
    for i, (width, skip) in enumerate(zip(reversed(sizes[:-1]), reversed(skips[:-1]), strict=True)):
        x = _up(x, width, dropout if i < dropout_blocks else 0.0, seed=seed + 100 + i)
        x = layers.Concatenate()([x, skip])
    out = layers.Conv2DTranspose(out_channels or c, 4, strides=2, padding="same", kernel_initializer=_init(seed + 200),
                                 activation="tanh", dtype="float32")(x)
    return keras.Model(inputs, out, name="generator")


def build_patchgan(image_shape: tuple[int, int, int], *, filters: int = 64, layers_down: int = 3, seed: int = 0):
    """The PatchGAN discriminator: input and target (or output) images ``(B, H, W, C)`` each -> a logit per patch
    ``(B, P, P, 1)``. ``layers_down`` stride-2 4x4 convolutions (widths ``filters`` doubling; no batch normalisation
    on the first), then a stride-1 4x4 convolution of twice the last width and one to a logit, each after zero
    padding of 1: the paper's 70x70 PatchGAN at 256 px with ``layers_down=3``."""
    inp, tar = keras.Input(image_shape, name="input_image"), keras.Input(image_shape, name="target_image")
    x = layers.Concatenate()([inp, tar])
    for i in range(layers_down):
        x = _down(x, filters * 2 ** i, batchnorm=i > 0, seed=seed + i)
    x = layers.Conv2D(filters * 2 ** layers_down, 4, kernel_initializer=_init(seed + 50),
                      use_bias=False)(layers.ZeroPadding2D()(x))
    x = layers.LeakyReLU(0.2)(layers.BatchNormalization()(x))
    out = layers.Conv2D(1, 4, kernel_initializer=_init(seed + 51), dtype="float32")(layers.ZeroPadding2D()(x))
    return keras.Model([inp, tar], out, name="discriminator")


def _mean(name: str) -> keras.metrics.Mean:
    return keras.metrics.Mean(name=name)


class Pix2Pix(keras.Model):
    """The conditional GAN of Isola et al.: the generator minimises the non-saturating adversarial loss of its
    output pairs plus ``l1_weight`` x the L1 distance to the target; the discriminator minimises the binary
    cross-entropy of real pairs (input, target) as 1 and generated pairs as 0 (the TensorFlow pix2pix tutorial's
    ``generator_loss`` and ``discriminator_loss``). Each has its own Adam (``compile(g_optimizer, d_optimizer)``).

    Batches are ``(input, target)`` in [-1, 1]; for a zi2zi generator the input is ``(images, face indices)`` and the
    discriminator judges the image pairs alone (zi2zi's face classifier on the discriminator is not built). Logs:
    ``loss`` (the L1 term, mean absolute error in [-1, 1] units: what validation and early stopping watch, as for
    the L1-only baseline), ``gan_loss`` and ``d_loss``.
    """

    def __init__(self, generator, discriminator, *, l1_weight: float = 100.0, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.discriminator, self.l1_weight = generator, discriminator, l1_weight
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)
        self.trackers = [_mean("loss"), _mean("gan_loss"), _mean("d_loss")]
        self.built = True

    @property
    def metrics(self):
        return self.trackers

    def compile(self, g_optimizer, d_optimizer):
        super().compile()
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        g_optimizer.build(self.generator.trainable_variables)
        d_optimizer.build(self.discriminator.trainable_variables)

    def call(self, images, training=False):
        return self.generator(images, training=training)

    def _terms(self, batch, training: bool):
        source, target = batch  # source: the input images, or (images, face indices) for a zi2zi generator
        image = source[0] if isinstance(source, list | tuple) else source
        output = self.generator(source, training=training)
        real = self.discriminator([image, target], training=training)
        fake = self.discriminator([image, output], training=training)
        l1 = tf.reduce_mean(tf.abs(target - output))
        gan = self.bce(tf.ones_like(fake), fake)
        d_loss = self.bce(tf.ones_like(real), real) + self.bce(tf.zeros_like(fake), fake)
        return l1, gan, d_loss

    def train_step(self, batch):
        with tf.GradientTape(persistent=True) as tape:
            l1, gan, d_loss = self._terms(batch, training=True)
            g_loss = gan + self.l1_weight * l1
        for loss, net, opt in ((g_loss, self.generator, self.g_optimizer),
                               (d_loss, self.discriminator, self.d_optimizer)):
            opt.apply_gradients(zip(tape.gradient(loss, net.trainable_variables), net.trainable_variables, strict=True))
        del tape
        return self._report(l1, gan, d_loss)

    def test_step(self, batch):
        return self._report(*self._terms(batch, training=False))

    def _report(self, *values):
        for tracker, value in zip(self.trackers, values, strict=True):
            tracker.update_state(value)
        return {t.name: t.result() for t in self.trackers}


def custom_objects() -> dict:
    """Nothing beyond Keras's own layers: the saved generator is a plain functional model."""
    return {}
