"""Fitting an image generator: the model of the ``train`` section, its batches, and the one training loop behind the
train stage and the search trials (through :func:`genforge.core.trainer.fit`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.core.trainer import distribution_strategy, fit, set_threads
from genforge.image.config import Train

# the pixel range each architecture trains on (the diffusion model noises images in [-1, 1], as the GAN's tanh)
RANGES = {"vae": (0.0, 1.0), "gan": (-1.0, 1.0), "diffusion": (-1.0, 1.0)}


def build_generator(cfg: Train, image_shape: tuple[int, int, int], num_classes: int, seed: int):
    """The compiled model of ``cfg.arch`` (:class:`genforge.image.models.VAE`, :class:`~genforge.image.models.DCGAN`
    or :class:`genforge.image.diffusion.Diffusion`) for images ``image_shape``, conditioned on ``num_classes``
    classes when ``cfg.conditional``, with Adam (``learning_rate``, ``beta_1``; the GAN has one per network) and,
    when ``cfg.ema_momentum`` > 0, an exponential moving average of the weights. Call inside the strategy's scope.

    Raises:
        GenForgeError: a conditional diffusion model (this one is unconditional).
    """
    import keras

    from genforge.image.diffusion import Diffusion
    from genforge.image.models import DCGAN, VAE

    keras.utils.set_random_seed(seed)
    classes = num_classes if cfg.conditional else 0

    def adam():
        return keras.optimizers.Adam(cfg.learning_rate, beta_1=cfg.beta_1, use_ema=cfg.ema_momentum > 0,
                                     ema_momentum=cfg.ema_momentum or 0.99)

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(cfg.precision)
    try:
        if cfg.arch == "vae":
            model = VAE(image_shape, latent_dim=cfg.latent_dim, widths=tuple(cfg.widths), decoder=cfg.vae.decoder,
                        likelihood=cfg.vae.likelihood, sigma=cfg.vae.sigma, mlp_hidden=tuple(cfg.vae.mlp_hidden),
                        num_classes=classes, seed=seed)
            model.compile(optimizer=adam(), jit_compile=cfg.xla)
        elif cfg.arch == "gan":
            model = DCGAN(image_shape, latent_dim=cfg.latent_dim, widths=tuple(cfg.widths), num_classes=classes,
                          dropout=cfg.gan.dropout, seed=seed)
            model.compile(adam(), adam())
            model.jit_compile = cfg.xla
        else:
            if cfg.conditional:
                raise GenForgeError("train.conditional: the diffusion generator is unconditional; set it false")
            model = Diffusion(image_shape, widths=tuple(cfg.widths), timesteps=cfg.diffusion.timesteps,
                              schedule=cfg.diffusion.schedule, seed=seed)
            model.compile(optimizer=adam(), jit_compile=cfg.xla)
    finally:
        keras.config.set_dtype_policy(previous)
    return model


def spec(model, cfg: Train) -> dict:
    """The sampling spec of a trained model (:mod:`genforge.image.sampling`): its own, with ``train.temperature``
    (vae, gan) or ``train.diffusion.sampling_steps`` (diffusion)."""
    if cfg.arch == "diffusion":
        return model.spec(cfg.diffusion.sampling_steps)
    return model.spec(cfg.temperature)


def batch_indices(n: int, *, batch_size: int, steps: int, epochs: int, seed: int, start_step: int = 0) -> np.ndarray:
    """Image indices ``int64 (epochs * steps - start_step, batch_size)``: the batches from global step ``start_step``
    on. Epoch ``e`` walks a permutation of ``range(n)`` drawn by ``(seed, e)`` (repeated when an epoch needs more
    images than there are), so batch ``i`` depends only on ``(n, seed, i)`` and a resumed run sees the batches an
    uninterrupted one sees.

    >>> batch_indices(4, batch_size=2, steps=2, epochs=2, seed=0).shape
    (4, 2)
    >>> sorted(batch_indices(4, batch_size=2, steps=2, epochs=1, seed=0).ravel().tolist())
    [0, 1, 2, 3]
    """
    per_epoch = steps * batch_size
    rows = []
    for epoch in range(start_step // steps, epochs):
        rng = np.random.default_rng([seed, epoch])
        order = np.concatenate([rng.permutation(n) for _ in range(-(-per_epoch // n))])[:per_epoch]
        rows.append(order.reshape(steps, batch_size))
    out = np.concatenate(rows) if rows else np.zeros((0, batch_size), np.int64)
    return out[start_step % steps if rows else 0:]


def training_dataset(images, labels: np.ndarray, value_range, *, batch_size: int, steps: int, epochs: int, seed: int,
                     start_step: int = 0):
    """A ``tf.data.Dataset`` of the batches ``(images float32 (B, H, W, C) in value_range, labels int32 (B,))`` of
    :func:`batch_indices` from global step ``start_step`` on. ``images`` is ``uint8 (N, H, W, C)``: an array, or
    a split's shards read on demand (:class:`genforge.image.shards.ShardedImages`), from which each batch is gathered
    and scaled as the pipeline reaches it, so memory holds a few batches, not the split."""
    import tensorflow as tf

    from genforge.image.data import scale

    idx = batch_indices(len(images), batch_size=batch_size, steps=steps, epochs=epochs, seed=seed,
                        start_step=start_step)
    classes = labels.astype(np.int32)

    def gather(i):
        return scale(images[i], value_range), classes[i]

    shape = (batch_size, *images.shape[1:])
    return (tf.data.Dataset.from_tensor_slices(idx)
            .map(lambda i: tf.numpy_function(gather, [i], (tf.float32, tf.int32), stateful=False),
                 num_parallel_calls=tf.data.AUTOTUNE)
            .map(lambda x, y: (tf.ensure_shape(x, shape), tf.ensure_shape(y, shape[:1])))
            .prefetch(tf.data.AUTOTUNE))


def stop_on_nonfinite():
    """A Keras callback that stops training at the first step whose logged losses (``loss``, ``d_loss``,
    ``g_loss``, ...) are not all finite; its ``bad`` holds ``(batch, key, value)`` of that step, or ``None``."""
    import math

    import keras

    class StopOnNonFinite(keras.callbacks.Callback):
        bad = None

        def on_train_batch_end(self, batch, logs=None):
            for key, value in (logs or {}).items():
                if key != "learning_rate" and not math.isfinite(float(value)):
                    self.bad = (batch, key, float(value))
                    self.model.stop_training = True
                    return

    return StopOnNonFinite()


def fit_generator(cfg: Train, splits: dict, num_classes: int, *, seed: int, callbacks: list | None = None,
                  checkpoint: str | Path | None = None):
    """Build, compile and fit the generator of ``cfg`` on ``splits`` (``{"train": (images, labels), "val": ...}``,
    ``uint8 (N, H, W, C)`` arrays or shards read on demand, and ``int64 (N,)``) with ``seed``: ``cfg.epochs`` epochs of
    ``cfg.steps_per_epoch`` batches (0: one pass), validated on the first ``cfg.val_batches`` batches of val after each
    epoch, with early stopping on the validation loss (not for the GAN, whose losses do not measure sample quality).
    Resumable from ``checkpoint`` as :func:`genforge.core.trainer.fit`.

    Returns:
        ``(model, state)``: the trained model and the :class:`~genforge.core.checkpoint.TrainingState`.

    Raises:
        GenForgeError: the batch size does not split over the replicas, a split is smaller than one batch, or a
            training loss became NaN or infinite (training stops at that step: nothing is worth saving).
    """
    from genforge.image.data import scale

    set_threads(cfg)
    strategy = distribution_strategy()
    images, labels = splits["train"]
    val_images, val_labels = splits["val"]
    if cfg.batch_size % strategy.num_replicas_in_sync:
        raise GenForgeError(f"train.batch_size ({cfg.batch_size}) must be a multiple of the "
                            f"{strategy.num_replicas_in_sync} replicas training together")
    if len(images) < cfg.batch_size or len(val_images) < 1:
        raise GenForgeError(f"the train split has {len(images)} images and val {len(val_images)}: train.batch_size "
                            f"({cfg.batch_size}) needs at least that many training images and val at least one")
    steps = cfg.steps_per_epoch or len(images) // cfg.batch_size
    value_range = RANGES[cfg.arch]
    with strategy.scope():
        model = build_generator(cfg, images.shape[1:], num_classes, seed)
    n_val = min(len(val_images), cfg.val_batches * cfg.batch_size)
    validation = (scale(val_images[:n_val], value_range), val_labels[:n_val].astype(np.int32))

    def dataset(start_step: int, epochs: int):
        return training_dataset(images, labels, value_range, batch_size=cfg.batch_size, steps=steps, epochs=epochs,
                                seed=seed, start_step=start_step)

    gan, guard = cfg.arch == "gan", stop_on_nonfinite()
    state = fit(model, dataset, strategy=strategy, epochs=cfg.epochs, steps_per_epoch=steps,
                validation_data=validation, validation_batch_size=cfg.batch_size,
                # the GAN keeps its last epoch: its losses say nothing of sample quality
                monitor="epoch" if gan else "val_loss", mode="max" if gan else "min", patience=cfg.patience,
                checkpoint=checkpoint, checkpoint_steps=cfg.checkpoint_steps, callbacks=[guard, *(callbacks or [])],
                step_key="d_loss" if gan else "loss")
    if guard.bad is not None:
        batch, key, value = guard.bad
        raise GenForgeError(f"training stopped at step {state.step}: {key} became {value} (batch {batch + 1} of its "
                            f"epoch); lower train.learning_rate or raise train.batch_size")
    return model, state


def load_training_splits(job) -> tuple[dict, list[str]]:
    """The preprocessed ``train`` split (read on demand: :func:`genforge.image.shards.open_split`) and ``val`` split
    (in memory) of image generator ``job``, and its class names.

    Raises:
        GenForgeError: a split or the spec is missing (run the preprocess stage).
    """
    from genforge.core.files import read_json
    from genforge.image.shards import load_split, open_split
    from genforge.image.stages.preprocess import SPEC

    processed = Path(job.paths.processed)
    return ({"train": open_split(processed / "train"), "val": load_split(processed / "val")},
            read_json(processed / SPEC)["classes"])


def fit_trial(job, cfg: Train, seed: int, on_epoch) -> list[float]:
    """Train one search trial: ``cfg`` (the trial's train section) on ``job``'s preprocessed splits with ``seed``,
    no checkpoint; ``on_epoch(epoch, val_loss)`` after each epoch stops training when it returns true. Returns each
    epoch's val loss (the GAN's: its generator's, ``val_g_loss``)."""
    import keras

    key = "val_g_loss" if cfg.arch == "gan" else "val_loss"

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if on_epoch(epoch + 1, float(logs[key])):
                self.model.stop_training = True

    splits, classes = load_training_splits(job)
    _, state = fit_generator(cfg, splits, len(classes), seed=seed, callbacks=[Report()])
    return [float(row[key]) for row in state.history]
