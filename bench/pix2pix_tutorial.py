"""GenForge's glyphs-pix2pix against the TensorFlow pix2pix tutorial's training step for the same wall time, both
scored by GenForge on the test characters (never trained on).

The tutorial (tensorflow.org/tutorials/generative/pix2pix) as written: its ``downsample``/``upsample`` blocks,
``Generator``, ``Discriminator``, ``generator_loss`` (LAMBDA 100), ``discriminator_loss``, two Adam(2e-4, beta_1
0.5), ``train_step`` under ``tf.function`` and BATCH_SIZE 1; changed only for the data and the size: one grayscale
channel (OUTPUT_CHANNELS 1) at 64x64, so the generator keeps the first 6 of its 8 downsampling blocks and the last 5
of its 7 upsampling blocks (a 64-pixel image reaches 1x1 after 6 halvings), and no random jitter or mirroring (a
mirrored glyph is another character). It trains on the glyph pairs of `dvc repro preprocess@glyphs-pix2pix` for
SECONDS of wall time (default: the pix2pix part of the last train stage, ``metrics/glyphs-pix2pix/train.json``
``seconds``; pass the train stage's time measured alone for a fair comparison), then both models translate the test
inputs: GenForge's from models/optimized/glyphs-pix2pix (`dvc repro evaluate@glyphs-pix2pix` first).

    python bench/pix2pix_tutorial.py [SECONDS]
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from genforge.image2image.metrics import pair_scores  # noqa: E402
from genforge.image2image.store import load_generator  # noqa: E402
from genforge.image2image.training import load_split, to_model, translate  # noqa: E402

NAME, OUTPUT_CHANNELS, LAMBDA = "glyphs-pix2pix", 1, 100


def downsample(filters, size, apply_batchnorm=True):
    initializer = tf.random_normal_initializer(0., 0.02)
    result = tf.keras.Sequential()
    result.add(tf.keras.layers.Conv2D(filters, size, strides=2, padding="same", kernel_initializer=initializer,
                                      use_bias=False))
    if apply_batchnorm:
        result.add(tf.keras.layers.BatchNormalization())
    result.add(tf.keras.layers.LeakyReLU())
    return result


def upsample(filters, size, apply_dropout=False):
    initializer = tf.random_normal_initializer(0., 0.02)
    result = tf.keras.Sequential()
    result.add(tf.keras.layers.Conv2DTranspose(filters, size, strides=2, padding="same",
                                               kernel_initializer=initializer, use_bias=False))
    result.add(tf.keras.layers.BatchNormalization())
    if apply_dropout:
        result.add(tf.keras.layers.Dropout(0.5))
    result.add(tf.keras.layers.ReLU())
    return result


def Generator():  # noqa: N802 (the tutorial's name)
    inputs = tf.keras.layers.Input(shape=[64, 64, 1])
    down_stack = [downsample(64, 4, apply_batchnorm=False), downsample(128, 4), downsample(256, 4),
                  downsample(512, 4), downsample(512, 4), downsample(512, 4)]  # the tutorial's first 6 of 8
    up_stack = [upsample(512, 4), upsample(512, 4), upsample(256, 4), upsample(128, 4),
                upsample(64, 4)]  # its last 5 of 7 (the first three, with dropout, dropped with their depth)
    up_stack[0] = upsample(512, 4, apply_dropout=True)
    initializer = tf.random_normal_initializer(0., 0.02)
    last = tf.keras.layers.Conv2DTranspose(OUTPUT_CHANNELS, 4, strides=2, padding="same",
                                           kernel_initializer=initializer, activation="tanh")
    x = inputs
    skips = []
    for down in down_stack:
        x = down(x)
        skips.append(x)
    skips = reversed(skips[:-1])
    for up, skip in zip(up_stack, skips):  # noqa: B905 (as written)
        x = up(x)
        x = tf.keras.layers.Concatenate()([x, skip])
    return tf.keras.Model(inputs=inputs, outputs=last(x))


def Discriminator():  # noqa: N802
    initializer = tf.random_normal_initializer(0., 0.02)
    inp = tf.keras.layers.Input(shape=[64, 64, 1], name="input_image")
    tar = tf.keras.layers.Input(shape=[64, 64, 1], name="target_image")
    x = tf.keras.layers.concatenate([inp, tar])
    down1 = downsample(64, 4, False)(x)
    down2 = downsample(128, 4)(down1)
    down3 = downsample(256, 4)(down2)
    zero_pad1 = tf.keras.layers.ZeroPadding2D()(down3)
    conv = tf.keras.layers.Conv2D(512, 4, strides=1, kernel_initializer=initializer, use_bias=False)(zero_pad1)
    batchnorm1 = tf.keras.layers.BatchNormalization()(conv)
    leaky_relu = tf.keras.layers.LeakyReLU()(batchnorm1)
    zero_pad2 = tf.keras.layers.ZeroPadding2D()(leaky_relu)
    last = tf.keras.layers.Conv2D(1, 4, strides=1, kernel_initializer=initializer)(zero_pad2)
    return tf.keras.Model(inputs=[inp, tar], outputs=last)


loss_object = tf.keras.losses.BinaryCrossentropy(from_logits=True)


def generator_loss(disc_generated_output, gen_output, target):
    gan_loss = loss_object(tf.ones_like(disc_generated_output), disc_generated_output)
    l1_loss = tf.reduce_mean(tf.abs(target - gen_output))
    return gan_loss + (LAMBDA * l1_loss), gan_loss, l1_loss


def discriminator_loss(disc_real_output, disc_generated_output):
    real_loss = loss_object(tf.ones_like(disc_real_output), disc_real_output)
    generated_loss = loss_object(tf.zeros_like(disc_generated_output), disc_generated_output)
    return real_loss + generated_loss


def train_for(seconds: float, x: np.ndarray, y: np.ndarray):
    """The tutorial's generator after ``seconds`` of its training loop, and the steps it took."""
    generator, discriminator = Generator(), Discriminator()
    generator_optimizer = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)
    discriminator_optimizer = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)

    @tf.function
    def train_step(input_image, target):
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            gen_output = generator(input_image, training=True)
            disc_real_output = discriminator([input_image, target], training=True)
            disc_generated_output = discriminator([input_image, gen_output], training=True)
            gen_total_loss, _, _ = generator_loss(disc_generated_output, gen_output, target)
            disc_loss = discriminator_loss(disc_real_output, disc_generated_output)
        generator_gradients = gen_tape.gradient(gen_total_loss, generator.trainable_variables)
        discriminator_gradients = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
        generator_optimizer.apply_gradients(zip(generator_gradients, generator.trainable_variables))  # noqa: B905
        discriminator_optimizer.apply_gradients(zip(discriminator_gradients,  # noqa: B905
                                                    discriminator.trainable_variables))

    data = tf.data.Dataset.from_tensor_slices((to_model(x), to_model(y))).shuffle(len(x), seed=0).batch(1).repeat()
    start, steps = time.perf_counter(), 0
    for input_image, target in data:
        train_step(input_image, target)
        steps += 1
        if time.perf_counter() - start >= seconds:
            return generator, steps


def main() -> None:
    tf.config.threading.set_intra_op_parallelism_threads(1)  # as the train stage (intra_op_threads: 1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    train = json.loads(open(f"metrics/{NAME}/train.json").read())
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else train["seconds"]
    x, y = load_split(f"data/processed/{NAME}", "train", NAME)
    test_x, test_y = load_split(f"data/processed/{NAME}", "test", NAME)
    tutorial, steps = train_for(seconds, x, y)
    ours, _ = load_generator(f"models/optimized/{NAME}")
    for name, generator in ((f"tutorial ({steps} steps of 1 pair in {seconds:.0f} s)", tutorial),
                            (f"GenForge ({train['steps']} steps of 8 pairs in {train['seconds']:.0f} s)", ours)):
        s = pair_scores(translate(generator, test_x), test_y)
        print(f"{name:<45} L1 {s['l1'].mean():.4f}  SSIM {s['ssim'].mean():.4f}  PSNR {s['psnr'].mean():.2f} dB")
    identity = pair_scores(test_x, test_y)
    print(f"{'identity (input as output)':<45} L1 {identity['l1'].mean():.4f}  SSIM {identity['ssim'].mean():.4f}")


if __name__ == "__main__":
    main()
