"""Fitting a text generator: the one training loop behind the train stage, the search trials and the extra seeds of
the evaluate stage (windows of token ids through :func:`genforge.core.trainer.fit`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.core.trainer import distribution_strategy, fit, learning_rate, set_threads
from genforge.text.config import Train
from genforge.text.data import check_length, chop, load_splits, steps_per_epoch, training_dataset
from genforge.text.models import build_gpt, build_lstm, build_mlp, compile_generator


def build_generator(cfg: Train, vocab_size: int):
    """The generator of the ``train`` section, by ``cfg.arch``: :func:`genforge.text.models.build_lstm`,
    :func:`~genforge.text.models.build_mlp` or :func:`~genforge.text.models.build_gpt` (block size
    ``cfg.seq_len``), under
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


def fit_generator(cfg: Train, vocab_size: int, train_tokens: np.ndarray, val_tokens: np.ndarray, *, seed: int,
                  callbacks: list | None = None, model=None, checkpoint: str | Path | None = None):
    """Build (unless ``model`` is given), compile and fit the generator of ``cfg`` with ``seed``.

    Windows of ``cfg.seq_len`` tokens are drawn by :func:`genforge.text.data.training_dataset` for ``cfg.epochs``
    epochs of ``steps_per_epoch`` batches; val loss is scored after each epoch on the first ``cfg.val_batches``
    batches of the val split's fixed chop; early stopping on val loss (``cfg.patience``) restores the best weights.
    Builds and trains under :func:`distribution_strategy`, with the thread pools of :func:`set_threads` when
    TensorFlow has not started; :func:`genforge.core.trainer.fit` runs the epochs.

    With ``checkpoint``, the run saves its whole state there every ``cfg.checkpoint_steps`` steps and at each epoch's
    end (:class:`genforge.core.checkpoint.TrainingState`), and a run started again with the same folder continues from
    the last save: same weights, optimizer moments, learning-rate step, data position and early-stopping state, so it
    ends where an uninterrupted run ends. Under ``MultiWorkerMirroredStrategy`` ``checkpoint`` is ignored (with a
    warning): every worker would have to resume from the same step, and only the chief writes.

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
        :class:`~genforge.core.checkpoint.TrainingState` (``history``, ``step_losses``) and the batches per epoch.

    Raises:
        GenForgeError: a split is shorter than one window, or ``batch_size`` does not split evenly over the replicas.
    """
    import keras

    check_length(train_tokens, cfg.seq_len, "train")
    check_length(val_tokens, cfg.seq_len, "val")
    set_threads(cfg)
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
                          weight_decay=cfg.weight_decay, beta_2=cfg.beta_2, ema_momentum=cfg.ema_momentum,
                          jit_compile=cfg.xla,
                          steps_per_execution=cfg.steps_per_execution)
    val_x, val_y = chop(val_tokens, cfg.seq_len, cfg.val_batches * cfg.batch_size)

    def dataset(start_step: int, epochs: int):
        return training_dataset(train_tokens, seq_len=cfg.seq_len, batch_size=cfg.batch_size, steps=steps,
                                epochs=epochs, seed=seed, random_offsets=cfg.random_offsets, start_step=start_step)

    state = fit(model, dataset, strategy=strategy, epochs=cfg.epochs, steps_per_epoch=steps,
                validation_data=(val_x, val_y), validation_batch_size=cfg.batch_size, patience=cfg.patience,
                checkpoint=checkpoint, checkpoint_steps=cfg.checkpoint_steps, callbacks=callbacks)
    return model, state, steps


def fit_trial(gen, cfg: Train, seed: int, on_epoch) -> list[float]:
    """Train one search trial: ``cfg`` (the trial's train section) on generator ``gen``'s preprocessed splits with
    ``seed``, no checkpoint. After each epoch ``on_epoch(epoch, val_loss)`` (epoch from 1, val loss in nats/token)
    is called; training stops when it returns true (a pruned trial).

    Returns:
        Each epoch's val loss, in order.
    """
    import keras

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if on_epoch(epoch + 1, float(logs["val_loss"])):
                self.model.stop_training = True

    vocab_size, train_tokens, val_tokens = load_splits(gen)
    _, state, _ = fit_generator(cfg, vocab_size, train_tokens, val_tokens, seed=seed, callbacks=[Report()])
    return [float(row["val_loss"]) for row in state.history]


def main(argv: list[str] | None = None) -> int:
    """``python -m genforge.text.training GENERATOR [PARAMS]``: what a non-chief worker of a ``TF_CONFIG`` cluster
    runs while the chief runs the train stage of text generator GENERATOR. It trains that generator's model on its
    preprocessed splits exactly as the stage does (every worker must run the same steps), writes nothing, and prints
    ``{"val_loss", "steps"}`` as JSON. Exit status 2 with a message on bad params or data."""
    import argparse

    from genforge.core.config import job, load_params

    parser = argparse.ArgumentParser(prog="python -m genforge.text.training", description=main.__doc__)
    parser.add_argument("generator")
    parser.add_argument("params", nargs="?", default="params.yaml")
    args = parser.parse_args(argv)
    try:
        gen = job(load_params(args.params), args.generator)
        vocab_size, train_tokens, val_tokens = load_splits(gen)
        _, state, _ = fit_generator(gen.train, vocab_size, train_tokens, val_tokens, seed=gen.seed)
    except GenForgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"val_loss": state.best, "steps": state.step}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
