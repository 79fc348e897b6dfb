"""Fitting a next-frame predictor: its batches (Moving MNIST sequences drawn afresh for every step from the training
digits, or a folder's training sequences), the model of the ``train`` section, and the one training loop behind the
train stage and the search trials (through :func:`genforge.core.trainer.fit`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.core.files import read_json
from genforge.core.trainer import distribution_strategy, fit, set_threads
from genforge.video.config import Train
from genforge.video.moving_mnist import sequences

# in paths.processed: Moving MNIST's training digits, or a folder's training sequences; the validation and test
# sequences; how they were made
DIGITS, TRAIN, VAL, TEST, SPEC = "train_digits.npy", "train.npy", "val.npy", "test.npy", "dataset.json"


@dataclass(frozen=True)
class Drawing:
    """How training batches are drawn (from the preprocess stage's dataset.json): ``format`` ``moving_mnist``: new
    sequences of ``frames`` frames on a ``size`` x ``size`` canvas, ``digits`` digits each moving ``step`` of their
    free range per frame (:func:`genforge.video.moving_mnist.sequences`); ``folder``: the stored training sequences,
    drawn with replacement."""

    format: str
    frames: int
    size: int
    digits: int = 0
    step: float = 0.0


def pairs(frames: np.ndarray, cfg: Train, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets of one batch of sequences ``uint8 (B, T, H, W, C)``, as ``float32`` in [0, 1]: from frame
    ``offset`` on, ``cfg.context`` frames in and the ``cfg.rollout`` frames after them out.

    >>> x, y = pairs(np.zeros((2, 6, 4, 4, 1), np.uint8), Train.model_construct(context=3, rollout=2), offset=1)
    >>> x.shape, y.shape
    ((2, 3, 4, 4, 1), (2, 2, 4, 4, 1))
    """
    f = frames[:, offset:offset + cfg.context + cfg.rollout].astype(np.float32) / np.float32(255)
    return f[:, :cfg.context], f[:, cfg.context:]


def draw_batch(source: np.ndarray, pre: Drawing, batch_size: int, seed: int, step: int) -> tuple[np.ndarray, int]:
    """The sequences ``uint8 (batch_size, frames, size, size, 1)`` of global step ``step`` and a random number for
    the offset of its training window (:func:`training_dataset`), drawn with the generator ``(seed, step)``, so a
    resumed run sees the batches an uninterrupted one sees. ``source``: Moving MNIST's training digits (new
    sequences are drawn from them) or a folder's training sequences (drawn among, with replacement)."""
    rng = np.random.default_rng([seed, step])
    if pre.format == "folder":
        frames = source[np.sort(rng.integers(0, len(source), batch_size))]
    else:
        frames = sequences(source, rng, batch_size, frames=pre.frames, per_sequence=pre.digits, size=pre.size,
                           step=pre.step)[0]
    return frames, int(rng.integers(0, 2**31))


def training_dataset(source: np.ndarray, pre: Drawing, cfg: Train, *, seed: int, start_step: int, stop_step: int):
    """A ``tf.data.Dataset`` of the input and target batches (:func:`pairs`) of steps ``start_step..stop_step - 1``
    (:func:`draw_batch`), drawn as the pipeline reaches them; each batch's window starts at a frame drawn uniformly
    among those that leave ``context + rollout`` frames."""
    import tensorflow as tf

    frames = pre.frames
    frame = (pre.size, pre.size, 1)
    x_shape, y_shape = (cfg.batch_size, cfg.context, *frame), (cfg.batch_size, cfg.rollout, *frame)

    offsets = frames - cfg.context - cfg.rollout + 1

    def batch(step):
        sequences, draw = draw_batch(source, pre, cfg.batch_size, seed, int(step))
        return pairs(sequences, cfg, draw % offsets)

    return (tf.data.Dataset.range(start_step, stop_step)
            .map(lambda s: tf.numpy_function(batch, [s], (tf.float32, tf.float32), stateful=False),
                 num_parallel_calls=tf.data.AUTOTUNE)
            .map(lambda x, y: (tf.ensure_shape(x, x_shape), tf.ensure_shape(y, y_shape)))
            .prefetch(tf.data.AUTOTUNE))


def frame_loss(ssim_weight: float, frame_shape: tuple[int, int, int]):
    """The training loss of a predictor: binary cross-entropy of the logits ``(B, R, H, W, C)`` against the true
    frames in [0, 1] (its mean over pixels, in nats), plus ``ssim_weight`` x (1 - SSIM) of the predicted pixel
    probabilities, the mix of a pixel loss and SSIM of Zhao et al. (2017), "Loss Functions for Image Restoration
    with Neural Networks". Cross-entropy alone rewards a haze of probability where a digit may be; SSIM punishes
    haze on the black background, which is most of a Moving MNIST frame.

    SSIM is :func:`genforge.core.pixel_metrics.ssim`'s (Wang et al. 2004), its separable Gaussian window applied as two
    matrix products (``A @ x @ B.T``, ``A`` and ``B`` banded): the same figure as ``tf.image.ssim`` within float32
    rounding, whose 11x11 depthwise convolution made a training step three times as long here."""
    import tensorflow as tf

    from genforge.core.pixel_metrics import gaussian_window

    h, w, c = frame_shape

    def banded(n: int) -> np.ndarray:
        g = gaussian_window()
        out = np.zeros((n - len(g) + 1, n), np.float32)
        for i in range(len(out)):
            out[i, i:i + len(g)] = g
        return out

    rows, cols = tf.constant(banded(h)), tf.constant(banded(w))
    c1, c2 = 0.01 ** 2, 0.03 ** 2

    def filtered(x):  # (N, H, W) -> (N, H - 10, W - 10)
        return tf.einsum("ih,nhw,jw->nij", rows, x, cols)

    def ssim(a, b):
        a, b = (tf.reshape(tf.transpose(tf.reshape(v, (-1, h, w, c)), (0, 3, 1, 2)), (-1, h, w)) for v in (a, b))
        mu_a, mu_b = filtered(a), filtered(b)
        var_a, var_b = filtered(a * a) - mu_a ** 2, filtered(b * b) - mu_b ** 2
        cov = filtered(a * b) - mu_a * mu_b
        index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
        return tf.reduce_mean(index)

    def loss(y_true, logits):
        bce = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=logits))
        if ssim_weight == 0:
            return bce
        return bce + ssim_weight * (1.0 - ssim(tf.sigmoid(logits), y_true))

    return loss


def build_predictor(cfg: Train, frame_shape: tuple[int, int, int], horizon: int, seed: int):
    """The compiled predictor of ``cfg.arch`` (:mod:`genforge.video.models`), unrolled over ``horizon`` frames:
    Adam at ``learning_rate`` (clipped at ``clipnorm``), the loss :func:`frame_loss` with ``cfg.ssim_weight``. Call
    inside the strategy's scope."""
    import keras

    from genforge.video.models import build_convlstm, build_window

    build = build_convlstm if cfg.arch == "convlstm" else build_window
    model = build(frame_shape, context=cfg.context, horizon=horizon, patch=cfg.patch, filters=list(cfg.filters),
                  kernel=cfg.kernel, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate, clipnorm=cfg.clipnorm or None),
                  loss=frame_loss(cfg.ssim_weight, frame_shape))
    return model


def spec(cfg: Train, pre: Drawing) -> dict:
    """The model's spec (:func:`genforge.video.models.generate`): arch, context, frames to generate, frame shape."""
    return {"arch": cfg.arch, "context": cfg.context, "horizon": pre.frames - cfg.context,
            "frame_shape": [pre.size, pre.size, 1]}


def fit_predictor(cfg: Train, pre: Drawing, source: np.ndarray, val: np.ndarray, *, seed: int,
                  callbacks: list | None = None, checkpoint: str | Path | None = None):
    """Build and fit the predictor of ``cfg`` on batches drawn from ``source`` (:func:`draw_batch`) for
    ``cfg.epochs`` epochs of ``cfg.steps_per_epoch`` batches, validated on the first ``cfg.val_batches`` batches of
    the sequences ``val`` (``uint8 (M, T, H, W, 1)``) after each epoch, early stopping on the validation loss;
    resumable from ``checkpoint`` as :func:`genforge.core.trainer.fit`.

    Returns:
        ``(model, state)``: the trained model and the :class:`~genforge.core.checkpoint.TrainingState`.

    Raises:
        GenForgeError: no validation sequences, or the batch size does not split over the replicas.
    """
    set_threads(cfg)
    strategy = distribution_strategy()
    if cfg.batch_size % strategy.num_replicas_in_sync:
        raise GenForgeError(f"train.batch_size ({cfg.batch_size}) must be a multiple of the "
                            f"{strategy.num_replicas_in_sync} replicas training together")
    if len(val) == 0:
        raise GenForgeError("the val split has no sequences; raise preprocess.val_sequences")
    with strategy.scope():
        model = build_predictor(cfg, (pre.size, pre.size, 1), cfg.rollout, seed)
    validation = pairs(val[:cfg.val_batches * cfg.batch_size], cfg)

    def dataset(start_step: int, epochs: int):
        return training_dataset(source, pre, cfg, seed=seed, start_step=start_step,
                                stop_step=epochs * cfg.steps_per_epoch)

    state = fit(model, dataset, strategy=strategy, epochs=cfg.epochs, steps_per_epoch=cfg.steps_per_epoch,
                validation_data=validation, validation_batch_size=cfg.batch_size,
                patience=cfg.patience, checkpoint=checkpoint, checkpoint_steps=cfg.checkpoint_steps,
                callbacks=callbacks)
    return model, state


def load_training_data(job) -> tuple[np.ndarray, np.ndarray, Drawing]:
    """What training draws from (Moving MNIST's training digits ``uint8 (N, 28, 28)``, or a folder's training
    sequences), the validation sequences and the :class:`Drawing` of video generator ``job``'s preprocessed data.

    Raises:
        GenForgeError: a file is missing (run the preprocess stage).
    """
    processed = Path(job.paths.processed)
    dataset = read_json(processed / SPEC)
    out = []
    for name in (DIGITS if dataset["format"] == "moving_mnist" else TRAIN, VAL):
        if not (processed / name).is_file():
            raise GenForgeError(f"{processed / name} is missing; run `dvc repro preprocess@{job.name}` first")
        out.append(np.load(processed / name))
    drawing = Drawing(format=dataset["format"], frames=dataset["frames"], size=dataset["size"],
                      digits=dataset.get("digits_per_sequence", 0), step=dataset.get("step", 0.0))
    return out[0], out[1], drawing


def fit_trial(job, cfg: Train, seed: int, on_epoch) -> list[float]:
    """Train one search trial: ``cfg`` (the trial's train section) with ``seed``, no checkpoint; ``on_epoch(epoch,
    val_loss)`` after each epoch stops training when it returns true. Returns each epoch's val loss."""
    import keras

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if on_epoch(epoch + 1, float(logs["val_loss"])):
                self.model.stop_training = True

    source, val, drawing = load_training_data(job)
    _, state = fit_predictor(cfg, drawing, source, val, seed=seed, callbacks=[Report()])
    return [float(row["val_loss"]) for row in state.history]
