"""Fitting a generator: the one training loop behind the train stage and the extra seeds of the evaluate stage."""

from __future__ import annotations

import sys

import numpy as np

from genforge.config import Train
from genforge.data import check_length, chop, steps_per_epoch, training_dataset
from genforge.models import build_lstm, compile_generator


def build_generator(cfg: Train, vocab_size: int):
    """The LSTM generator of the ``train`` section: :func:`genforge.models.build_lstm` with its width, depth,
    dropout and activation penalty. Set the seed (``keras.utils.set_random_seed``) before calling."""
    return build_lstm(vocab_size, embedding_dim=cfg.embedding_dim, layers=cfg.layers, units=cfg.units,
                      dropout=cfg.dropout, recurrent_dropout=cfg.recurrent_dropout,
                      activation_penalty=cfg.activation_l2)


def fit_generator(cfg: Train, vocab_size: int, train_tokens: np.ndarray, val_tokens: np.ndarray, *, seed: int,
                  callbacks: list | None = None, model=None):
    """Build (unless ``model`` is given), compile and fit the LSTM generator of ``cfg`` with ``seed``.

    Windows of ``cfg.seq_len`` tokens are drawn by :func:`genforge.data.training_dataset` for ``cfg.epochs`` epochs of
    ``steps_per_epoch`` batches; val loss is scored after each epoch on the first ``cfg.val_batches`` batches of the
    val split's fixed chop; early stopping on val loss (``cfg.patience``) restores the best weights.

    Args:
        cfg: the ``train`` section of params.yaml.
        train_tokens, val_tokens: 1-D int token ids.
        seed: seeds weight init (``keras.utils.set_random_seed``) and the window draw.
        callbacks: extra Keras callbacks (checkpointing, tracking), run before early stopping.
        model: a built model to train instead of a new one (the caller sets the seed before building it).

    Returns:
        ``(model, history, steps)``: the trained ``keras.Model``, the ``keras.callbacks.History`` and the batches per
        epoch.

    Raises:
        GenForgeError: a split is shorter than one window.
    """
    import keras

    check_length(train_tokens, cfg.seq_len, "train")
    check_length(val_tokens, cfg.seq_len, "val")
    if model is None:
        keras.utils.set_random_seed(seed)
        model = build_generator(cfg, vocab_size)
    compile_generator(model, learning_rate=cfg.learning_rate, clipnorm=cfg.clipnorm, weight_decay=cfg.weight_decay)
    steps = steps_per_epoch(len(train_tokens), cfg.seq_len, cfg.batch_size, cfg.steps_per_epoch)
    ds = training_dataset(train_tokens, seq_len=cfg.seq_len, batch_size=cfg.batch_size, steps=steps,
                          epochs=max(cfg.epochs, 1), seed=seed, random_offsets=cfg.random_offsets)
    val_x, val_y = chop(val_tokens, cfg.seq_len, cfg.val_batches * cfg.batch_size)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.patience, restore_best_weights=True)
    history = model.fit(ds, epochs=cfg.epochs, steps_per_epoch=steps, validation_data=(val_x, val_y),
                        validation_batch_size=cfg.batch_size, callbacks=[*(callbacks or []), stop], shuffle=False,
                        verbose=1 if sys.stdout.isatty() else 2)
    return model, history, steps


def step_loss_recorder():
    """A Keras callback whose ``losses`` list collects every training step's own loss (nats), recovered from the
    running epoch means Keras reports (:func:`genforge.stability.batch_losses`)."""
    import keras

    from genforge.stability import batch_losses

    class StepLosses(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.losses: list[float] = []
            self._means: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._means = []

        def on_train_batch_end(self, batch, logs=None):
            self._means.append(float((logs or {}).get("loss", float("nan"))))

        def on_epoch_end(self, epoch, logs=None):
            self.losses.extend(batch_losses(self._means).tolist())

    return StepLosses()
