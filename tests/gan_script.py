"""A 1-D GAN on a Gaussian trained by :func:`genforge.core.trainer.fit` in its own process, for the resume test:
``python tests/gan_script.py CONFIG.json``. CONFIG holds ``checkpoint`` (a folder or null) and ``kill_at`` (a
step at which the process SIGKILLs itself, or null). Prints the history, the step and every weight as JSON."""

import json
import sys

import keras
import numpy as np
import tensorflow as tf
from train_script import KillAt  # tests/ is this script's folder, first on sys.path

from genforge.core.trainer import fit

BATCH, STEPS, EPOCHS = 16, 12, 3


class ToyGan(keras.Model):
    """A generator (noise (B, 2) -> sample (B, 1)) and a discriminator (sample -> logit), each with its own Adam
    (keras-io dcgan_overriding_train_step.py, reduced to one dimension)."""

    def __init__(self):
        super().__init__()
        self.generator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="tanh"),
                                           keras.layers.Dense(1)], name="generator")
        self.discriminator = keras.Sequential([keras.Input((1,)), keras.layers.Dense(8, activation="tanh"),
                                               keras.layers.Dense(1)], name="discriminator")
        self.noise = keras.random.SeedGenerator(7)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer, g_optimizer):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        d_optimizer.build(self.discriminator.trainable_variables)
        g_optimizer.build(self.generator.trainable_variables)

    def _pair(self, real):
        fake = self.generator(keras.random.normal((tf.shape(real)[0], 2), seed=self.noise))
        d_real, d_fake = self.discriminator(real), self.discriminator(fake)
        d_loss = self.bce(tf.ones_like(d_real), d_real) + self.bce(tf.zeros_like(d_fake), d_fake)
        return d_loss, self.bce(tf.ones_like(d_fake), d_fake)

    def train_step(self, real):
        with tf.GradientTape(persistent=True) as tape:
            d_loss, g_loss = self._pair(real)
        for loss, net, opt in ((d_loss, self.discriminator, self.d_optimizer),
                               (g_loss, self.generator, self.g_optimizer)):
            opt.apply_gradients(zip(tape.gradient(loss, net.trainable_variables), net.trainable_variables, strict=True))
        return self._track(d_loss, g_loss)

    def test_step(self, real):
        return self._track(*self._pair(real))

    def _track(self, d_loss, g_loss):
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}


def main() -> None:
    config = json.loads(open(sys.argv[1]).read())
    real = np.random.default_rng(0).normal(3.0, 0.5, (STEPS * EPOCHS * BATCH + 4 * BATCH, 1)).astype("float32")
    train, val = real[:-4 * BATCH], real[-4 * BATCH:]
    keras.utils.set_random_seed(1)
    model = ToyGan()
    # the generator keeps an average of its weights (as GANs sample from), the discriminator does not
    model.compile(keras.optimizers.Adam(2e-3, beta_1=0.5),
                  keras.optimizers.Adam(2e-3, beta_1=0.5, use_ema=True, ema_momentum=0.9))

    def dataset(start_step: int, epochs: int):
        return tf.data.Dataset.from_tensor_slices(train[start_step * BATCH:]).batch(BATCH)

    callbacks = [KillAt(config["kill_at"])] if config.get("kill_at") else []
    state = fit(model, dataset, strategy=tf.distribute.get_strategy(), epochs=EPOCHS, steps_per_epoch=STEPS,
                validation_data=tf.data.Dataset.from_tensor_slices(val).batch(BATCH), monitor="val_d_loss",
                mode="max", patience=EPOCHS, checkpoint=config.get("checkpoint"), checkpoint_steps=4,
                callbacks=callbacks, step_key="g_loss")
    print(json.dumps({"history": state.history, "step": state.step, "resumed_from": state.resumed_from,
                      "step_losses": state.step_losses, "weights": [w.tolist() for w in model.get_weights()]}))


if __name__ == "__main__":
    main()
