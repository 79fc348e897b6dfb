"""Fitting an image-to-image generator: its batches (training pairs drawn with replacement and shifted together),
the model of the ``train`` section (Pix2Pix, or the U-Net alone on the L1 loss) and the one training loop behind
the train stage and the search trials (through :func:`genforge.core.trainer.fit`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.core.trainer import distribution_strategy, fit, set_threads
from genforge.image2image.config import Train

# in paths.processed: <split>_input.npy and <split>_target.npy per split; the typeface classifier's images and
# labels (glyphs); how they were made
SPLITS = ("train", "val", "test")
DOMAIN, DOMAIN_LABELS, DATASET = "domain", "domain_labels", "dataset.json"
FACES = "face"  # <split>_face.npy (zi2zi): each pair's target face, an index into dataset.json's target_faces


def load_split(processed: str | Path, split: str, name: str = "") -> tuple[np.ndarray, np.ndarray]:
    """The inputs and targets ``uint8 (N, H, W, 1)`` of ``split``.

    Raises:
        GenForgeError: a file is missing (run the preprocess stage of generator ``name``).
    """
    out = []
    for side in ("input", "target"):
        path = Path(processed) / f"{split}_{side}.npy"
        if not path.is_file():
            raise GenForgeError(f"{path} is missing; run `dvc repro preprocess@{name or '<generator>'}` first")
        out.append(np.load(path))
    return out[0], out[1]


def load_faces(processed: str | Path, split: str) -> np.ndarray | None:
    """The target-face index ``int32 (N,)`` of each pair of ``split`` for a zi2zi generator; None for one face."""
    path = Path(processed) / f"{split}_{FACES}.npy"
    return np.load(path) if path.is_file() else None


def target_faces(processed: str | Path) -> list[str]:
    """The target faces of a zi2zi generator's pairs in index order (dataset.json); [] for one target face."""
    from genforge.core.files import read_json

    path = Path(processed) / DATASET
    return read_json(path).get("target_faces", []) if path.is_file() else []


def model_inputs(images: np.ndarray, faces: np.ndarray | None = None):
    """``uint8`` images (and their target faces) -> the generator's input: ``float32`` in [-1, 1], or with ``faces``
    the list ``[images, faces int32 (N,)]`` of a zi2zi generator."""
    x = to_model(images)
    return x if faces is None else [x, np.asarray(faces, np.int32)]


def to_model(images: np.ndarray) -> np.ndarray:
    """``uint8`` pixels -> ``float32`` in [-1, 1] (the generator's range)."""
    return images.astype(np.float32) / np.float32(127.5) - np.float32(1)


def to_uint8(images) -> np.ndarray:
    """Generator outputs in [-1, 1] -> ``uint8`` pixels (rounded, clipped)."""
    return np.clip(np.rint((np.asarray(images, np.float32) + 1) * 127.5), 0, 255).astype(np.uint8)


def draw_batch(x: np.ndarray, y: np.ndarray, batch_size: int, jitter: int, seed: int, step: int,
               faces: np.ndarray | None = None):
    """The pairs of global step ``step``: ``batch_size`` indices drawn with replacement by the generator
    ``(seed, step)``, and each pair shifted together by up to ``jitter`` pixels each way (white fills the edge: the
    paper's random jitter without its resize, and without mirroring, which changes a glyph); ``float32`` in [-1, 1].
    With ``faces`` (zi2zi) the drawn pairs' target faces come third (``int32``).

    >>> x = np.zeros((1, 4, 4, 1), np.uint8)
    >>> a, b = draw_batch(x, x, 2, 0, 0, 0)
    >>> a.shape, float(a.min()), float(b.max())
    ((2, 4, 4, 1), -1.0, -1.0)
    """
    rng = np.random.default_rng([seed, step])
    index = rng.integers(0, len(x), batch_size)
    shifts = rng.integers(-jitter, jitter + 1, (batch_size, 2))
    h, w = x.shape[1:3]
    pad = ((0, 0), (jitter, jitter), (jitter, jitter), (0, 0))
    xs, ys = (np.pad(a[index], pad, constant_values=255) for a in (x, y))
    rows = [np.s_[i, jitter + dy:jitter + dy + h, jitter + dx:jitter + dx + w] for i, (dy, dx) in enumerate(shifts)]
    pair = to_model(np.stack([xs[r] for r in rows])), to_model(np.stack([ys[r] for r in rows]))
    return pair if faces is None else (*pair, np.asarray(faces, np.int32)[index])


def training_dataset(x: np.ndarray, y: np.ndarray, cfg: Train, *, seed: int, start_step: int, stop_step: int,
                     faces: np.ndarray | None = None):
    """A ``tf.data.Dataset`` of the batches of steps ``start_step..stop_step - 1`` (:func:`draw_batch`): ``(input,
    target)``, the input ``(images, faces)`` with ``faces``."""
    import tensorflow as tf

    shape = (cfg.batch_size, *x.shape[1:])

    def batch(step):
        return draw_batch(x, y, cfg.batch_size, cfg.jitter, seed, int(step), faces)

    types = (tf.float32, tf.float32) if faces is None else (tf.float32, tf.float32, tf.int32)

    def shaped(a, b, *f):
        a, b = tf.ensure_shape(a, shape), tf.ensure_shape(b, shape)
        return (a, b) if not f else ((a, tf.ensure_shape(f[0], shape[:1])), b)

    return (tf.data.Dataset.range(start_step, stop_step)
            .map(lambda s: tf.numpy_function(batch, [s], types, stateful=False), num_parallel_calls=tf.data.AUTOTUNE)
            .map(shaped)
            .prefetch(tf.data.AUTOTUNE))


def build_translator(cfg: Train, image_shape: tuple[int, int, int], seed: int, faces: int = 0):
    """The compiled model of ``cfg.arch``: :class:`genforge.image2image.models.Pix2Pix` (a U-Net and a PatchGAN,
    each with Adam at ``learning_rate`` and ``beta_1``), or the U-Net alone compiled on the mean absolute error (the
    L1-only baseline of Isola et al.). Both log ``loss``: the L1 distance in [-1, 1] units. With
    ``cfg.ema_momentum`` > 0 the U-Net's Adam keeps an exponential moving average of its weights (Keras's
    ``use_ema``), which :func:`genforge.core.trainer.fit` validates and returns (:mod:`genforge.core.averaging`);
    the discriminator's does not. ``faces`` > 0 makes the U-Net zi2zi's, conditioned on that many target faces
    (``cfg.face_embedding`` wide). Call inside the strategy's scope."""
    import keras

    from genforge.image2image.models import Pix2Pix, build_patchgan, build_unet

    def adam(averaged: bool = False):
        return keras.optimizers.Adam(cfg.learning_rate, beta_1=cfg.beta_1, use_ema=averaged and cfg.ema_momentum > 0,
                                     ema_momentum=cfg.ema_momentum or 0.99)

    generator = build_unet(image_shape, filters=cfg.filters, max_filters=cfg.max_filters, dropout=cfg.dropout,
                           faces=faces, face_embedding=cfg.face_embedding, seed=seed)
    if cfg.arch == "unet_l1":
        generator.compile(optimizer=adam(averaged=True), loss="mean_absolute_error")
        return generator
    model = Pix2Pix(generator, build_patchgan(image_shape, filters=cfg.disc_filters, layers_down=cfg.disc_layers,
                                              seed=seed + 1000), l1_weight=cfg.l1_weight)
    model.compile(adam(averaged=True), adam())
    return model


def generator_of(model):
    """The generator (input -> output) of a model :func:`build_translator` made."""
    return getattr(model, "generator", model)


def translate(generator, images: np.ndarray, batch_size: int = 64, faces: np.ndarray | None = None) -> np.ndarray:
    """The generator's outputs ``uint8 (N, H, W, C)`` for inputs ``uint8 (N, H, W, C)`` (inference mode: dropout
    off, batch normalisation on its moving statistics, so the same input always gives the same output); a zi2zi
    generator draws input i in face ``faces[i]``.

    ``generator`` is a Keras model, or a callable of ``float32 (B, H, W, C)`` batches in [-1, 1] (and faces) such as
    :class:`genforge.core.litert.LiteRTNetwork`, run on ``batch_size`` inputs at a time. No images give no outputs.

    Raises:
        GenForgeError: ``faces`` is not one integer index per image within the faces of a Keras generator, or is
            given to a generator of one face, or missing for a zi2zi one.
    """
    _check_faces(generator, len(images), faces)
    if len(images) == 0:
        return np.zeros(images.shape, np.uint8)
    x = model_inputs(images, faces)
    if hasattr(generator, "predict"):
        return to_uint8(generator.predict(x, batch_size=batch_size, verbose=0))
    parts = x if isinstance(x, list) else [x]
    return to_uint8(np.concatenate([generator([p[i:i + batch_size] for p in parts] if len(parts) > 1 else
                                              parts[0][i:i + batch_size]) for i in range(0, len(images), batch_size)]))


def _check_faces(generator, n: int, faces) -> None:
    from genforge.image2image.store import face_count

    count = face_count(generator) if hasattr(generator, "layers") else None  # None: a LiteRT network, unknown
    if faces is None:
        if count:
            raise GenForgeError(f"this generator draws {count} faces: give each image's face index")
        return
    faces = np.asarray(faces)
    if count == 0:
        raise GenForgeError("this generator draws one face and takes no face indices")
    if faces.shape != (n,) or not np.issubdtype(faces.dtype, np.integer):
        raise GenForgeError(f"faces must be one integer index per image: {n} of them; got {faces.dtype} "
                            f"{faces.shape}")
    if n and (faces.min() < 0 or (count and faces.max() >= count)):
        limit = f"0..{count - 1}" if count else "0 and up"
        raise GenForgeError(f"face indices must lie in {limit}; got {faces.min()}..{faces.max()}")


def spec(cfg: Train, image_shape, dataset: dict | None = None) -> dict:
    """What a saved generator needs beside its weights: its arch and image shape; for zi2zi (``dataset``, the
    preprocess stage's dataset.json, names ``target_faces``) the faces in index order and the default face."""
    faces = (dataset or {}).get("target_faces")
    return {"arch": cfg.arch, "image_shape": [int(v) for v in image_shape],
            **({"faces": faces, "default_face": dataset["default_face"]} if faces else {})}


def load_pairs(processed: str | Path, split: str, name: str = "") -> tuple:
    """``(inputs, targets)`` of ``split`` (:func:`load_split`), and for a zi2zi generator its faces third
    (:func:`load_faces`)."""
    faces = load_faces(processed, split)
    return (*load_split(processed, split, name), *([] if faces is None else [faces]))


def fit_translator(cfg: Train, train: tuple, val: tuple, *, seed: int, callbacks: list | None = None,
                   checkpoint: str | Path | None = None, faces: int = 0):
    """Build and fit the model of ``cfg`` on batches drawn from the ``train`` pairs (:func:`draw_batch`), for
    ``cfg.epochs`` epochs of ``cfg.steps_per_epoch`` batches, validated on every ``val`` pair (L1) after each
    epoch, early stopping on it; resumable from ``checkpoint`` as :func:`genforge.core.trainer.fit`. ``train`` and
    ``val`` are :func:`load_pairs`'s; with ``faces`` target faces (zi2zi) each holds the pairs' faces third.

    Returns:
        ``(model, state)``: the trained model and the :class:`~genforge.core.checkpoint.TrainingState`.

    Raises:
        GenForgeError: no validation pairs, or the batch size does not split over the replicas.
    """
    set_threads(cfg)
    strategy = distribution_strategy()
    if cfg.batch_size % strategy.num_replicas_in_sync:
        raise GenForgeError(f"train.batch_size ({cfg.batch_size}) must be a multiple of the "
                            f"{strategy.num_replicas_in_sync} replicas training together")
    if len(val[0]) == 0:
        raise GenForgeError("the val split has no pairs; raise preprocess.val_fraction")
    with strategy.scope():
        model = build_translator(cfg, train[0].shape[1:], seed, faces=faces)

    def dataset(start_step: int, epochs: int):
        return training_dataset(*train[:2], cfg, seed=seed, start_step=start_step,
                                stop_step=epochs * cfg.steps_per_epoch, faces=train[2] if faces else None)

    state = fit(model, dataset, strategy=strategy, epochs=cfg.epochs, steps_per_epoch=cfg.steps_per_epoch,
                validation_data=(model_inputs(val[0], val[2] if faces else None), to_model(val[1])),
                validation_batch_size=cfg.batch_size,
                patience=cfg.patience, checkpoint=checkpoint, checkpoint_steps=cfg.checkpoint_steps,
                callbacks=callbacks)
    return model, state


def fit_trial(job, cfg: Train, seed: int, on_epoch) -> list[float]:
    """Train one search trial: ``cfg`` (the trial's train section) with ``seed``, no checkpoint; ``on_epoch(epoch,
    val_loss)`` after each epoch stops training when it returns true. Returns each epoch's val loss."""
    import keras

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if on_epoch(epoch + 1, float(logs["val_loss"])):
                self.model.stop_training = True

    processed = job.paths.processed
    _, state = fit_translator(cfg, load_pairs(processed, "train", job.name), load_pairs(processed, "val", job.name),
                              seed=seed, callbacks=[Report()], faces=len(target_faces(processed)))
    return [float(row["val_loss"]) for row in state.history]
