"""Fitting a generator: the one training loop behind the train stage, the search trials and the extra seeds of the
evaluate stage."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.checkpoint import TrainingState
from genforge.config import Train
from genforge.data import check_length, chop, steps_per_epoch, training_dataset
from genforge.models import build_gpt, build_lstm, build_mlp, compile_generator


def distribution_strategy():
    """The ``tf.distribute`` strategy training runs under, chosen from the environment.

    - ``TF_CONFIG`` names a cluster of two or more tasks: refused. ``MultiWorkerMirroredStrategy`` is what such a
      cluster needs, but Keras 3's ``Model.fit`` cannot train under it: its train step reduces the per-replica
      logs with ``strategy.reduce("MEAN", scalar, axis=0)``, which fails ("Invalid reduction dimension 0 for input
      with 0 dimensions", tensorflow/tensorflow#72388; Keras 3.15 hard-codes that reduction).
    - Otherwise, two or more visible GPUs: ``MirroredStrategy`` over them.
    - Otherwise the default strategy (one device).

    Raises:
        GenForgeError: ``TF_CONFIG`` is not valid JSON with a ``cluster``, or names several tasks (see above).
    """
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        try:
            cluster = json.loads(os.environ["TF_CONFIG"])["cluster"]
        except (ValueError, KeyError, TypeError) as e:
            raise GenForgeError(f"TF_CONFIG is not a JSON object with a 'cluster' key ({e}); see "
                                "https://www.tensorflow.org/guide/distributed_training#TF_CONFIG") from None
        if sum(len(v) for v in cluster.values()) > 1:
            raise GenForgeError("TF_CONFIG names a multi-worker cluster, and Keras 3's Model.fit cannot train under "
                                "MultiWorkerMirroredStrategy (tensorflow/tensorflow#72388): unset TF_CONFIG to train "
                                "on this machine's devices (MirroredStrategy over its GPUs)")
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def build_generator(cfg: Train, vocab_size: int):
    """The generator of the ``train`` section, by ``cfg.arch``: :func:`genforge.models.build_lstm`,
    :func:`~genforge.models.build_mlp` or :func:`~genforge.models.build_gpt` (block size ``cfg.seq_len``), under
    the dtype policy ``cfg.precision`` (the global policy is back to what it was afterwards). Set the seed
    (``keras.utils.set_random_seed``) and enter the strategy's scope before calling."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(cfg.precision)
    try:
        if cfg.arch == "mlp":
            return build_mlp(vocab_size, embedding_dim=cfg.embedding_dim, context=cfg.mlp.context,
                             hidden=list(cfg.mlp.hidden), activation=cfg.mlp.activation, dropout=cfg.dropout)
        if cfg.arch == "gpt":
            return build_gpt(vocab_size, block_size=cfg.seq_len, n_layer=cfg.gpt.n_layer, n_head=cfg.gpt.n_head,
                             n_embd=cfg.gpt.n_embd, dropout=cfg.dropout)
        return build_lstm(vocab_size, embedding_dim=cfg.embedding_dim, layers=cfg.layers, units=cfg.units,
                          dropout=cfg.dropout, recurrent_dropout=cfg.recurrent_dropout,
                          activation_penalty=cfg.activation_l2)
    finally:
        keras.config.set_dtype_policy(previous)


def learning_rate(cfg: Train, total_steps: int):
    """The learning rate of ``cfg``: a float (``constant``), or for ``cosine`` a Keras ``CosineDecay`` that rises
    linearly from 0 to ``cfg.learning_rate`` over ``warmup_steps`` and then follows a half cosine down to
    ``min_lr_ratio * learning_rate`` at ``total_steps`` (Loshchilov & Hutter (2017), *SGDR*, eq. 5, one cycle;
    warmup as in Goyal et al. (2017)).

    >>> s = learning_rate(Train.model_construct(lr_schedule="cosine", learning_rate=1.0, warmup_steps=10,
    ...                                         min_lr_ratio=0.1), 110)
    >>> [round(float(s(i)), 3) for i in (5, 10, 60, 110)]  # half way up, peak, half way down, floor
    [0.5, 1.0, 0.55, 0.1]
    """
    if cfg.lr_schedule == "constant":
        return cfg.learning_rate
    import keras

    warmup = min(cfg.warmup_steps, max(total_steps - 1, 0))
    return keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=max(total_steps - warmup, 1), alpha=cfg.min_lr_ratio,
        warmup_target=cfg.learning_rate, warmup_steps=warmup)


def fit_generator(cfg: Train, vocab_size: int, train_tokens: np.ndarray, val_tokens: np.ndarray, *, seed: int,
                  callbacks: list | None = None, model=None, checkpoint: str | Path | None = None):
    """Build (unless ``model`` is given), compile and fit the generator of ``cfg`` with ``seed``.

    Windows of ``cfg.seq_len`` tokens are drawn by :func:`genforge.data.training_dataset` for ``cfg.epochs`` epochs of
    ``steps_per_epoch`` batches; val loss is scored after each epoch on the first ``cfg.val_batches`` batches of the
    val split's fixed chop; early stopping on val loss (``cfg.patience``) restores the best weights. Builds and trains
    under :func:`distribution_strategy`.

    With ``checkpoint``, the run saves its whole state there every ``cfg.checkpoint_steps`` steps and at each epoch's
    end (:class:`genforge.checkpoint.TrainingState`), and a run started again with the same folder continues from
    the last save: same weights, optimizer moments, learning-rate step, data position and early-stopping state, so it
    ends where an uninterrupted run ends.

    Args:
        cfg: the ``train`` section of params.yaml.
        train_tokens, val_tokens: 1-D int token ids.
        seed: seeds weight init (``keras.utils.set_random_seed``) and the window draw.
        callbacks: extra Keras callbacks (tracking), run before the state callback.
        model: a built model to train instead of a new one (the caller sets the seed before building it, inside the
            strategy's scope).
        checkpoint: folder of the resumable state, or ``None``.

    Returns:
        ``(model, state, steps)``: the trained ``keras.Model`` (best epoch's weights), the
        :class:`~genforge.checkpoint.TrainingState` (``history``, ``step_losses``) and the batches per epoch.

    Raises:
        GenForgeError: a split is shorter than one window, or ``batch_size`` does not split evenly over the replicas.
    """
    import keras

    check_length(train_tokens, cfg.seq_len, "train")
    check_length(val_tokens, cfg.seq_len, "val")
    strategy = distribution_strategy()
    if cfg.batch_size % strategy.num_replicas_in_sync:
        raise GenForgeError(f"train.batch_size ({cfg.batch_size}) must be a multiple of the "
                            f"{strategy.num_replicas_in_sync} replicas training together")
    steps = steps_per_epoch(len(train_tokens), cfg.seq_len, cfg.batch_size, cfg.steps_per_epoch)
    with strategy.scope():
        if model is None:
            keras.utils.set_random_seed(seed)
            model = build_generator(cfg, vocab_size)
        compile_generator(model, learning_rate=learning_rate(cfg, steps * cfg.epochs), clipnorm=cfg.clipnorm,
                          weight_decay=cfg.weight_decay, jit_compile=cfg.xla,
                          steps_per_execution=cfg.steps_per_execution)
    state = TrainingState(checkpoint, steps_per_epoch=steps, patience=cfg.patience, every=cfg.checkpoint_steps)
    state.set_model(model)
    done = state.restore(model)
    val_x, val_y = chop(val_tokens, cfg.seq_len, cfg.val_batches * cfg.batch_size)
    verbose = 1 if sys.stdout.isatty() else 2
    epoch, into = divmod(done, steps)
    # a resumed run finishes its interrupted epoch with a fit() of the remaining steps, then runs whole epochs
    for first, length in ((epoch, steps - into), (epoch + 1, steps)) if into else ((epoch, steps),):
        if state.stopped or first >= cfg.epochs:
            break
        ds = training_dataset(train_tokens, seq_len=cfg.seq_len, batch_size=cfg.batch_size, steps=steps,
                              epochs=cfg.epochs, seed=seed, random_offsets=cfg.random_offsets,
                              start_step=first * steps + (steps - length))
        with strategy.scope():
            model.fit(ds, initial_epoch=first, epochs=first + 1 if length < steps else cfg.epochs,
                      steps_per_epoch=length, validation_data=(val_x, val_y),
                      validation_batch_size=cfg.batch_size, callbacks=[*(callbacks or []), state], shuffle=False,
                      verbose=verbose)
    state.restore_best()
    return model, state, steps

