"""Fitting a generator: the one training loop behind the train stage, the search trials and the extra seeds of the
evaluate stage."""

from __future__ import annotations

import json
import logging
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

    - ``TF_CONFIG`` names a cluster of two or more tasks: ``MultiWorkerMirroredStrategy`` (synchronous data
      parallelism across worker processes; TensorFlow guide *Multi-worker training with Keras*). Every worker runs
      the same training; the chief (task ``chief`` 0, else ``worker`` 0) is the one that writes outputs
      (:func:`is_chief`).
    - Otherwise, two or more visible GPUs: ``MirroredStrategy`` over them.
    - Otherwise the default strategy (one device).

    Raises:
        GenForgeError: ``TF_CONFIG`` is not valid JSON with a ``cluster``.
    """
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        try:
            cluster = json.loads(os.environ["TF_CONFIG"])["cluster"]
        except (ValueError, KeyError, TypeError) as e:
            raise GenForgeError(f"TF_CONFIG is not a JSON object with a 'cluster' key ({e}); see "
                                "https://www.tensorflow.org/guide/distributed_training#TF_CONFIG") from None
        if sum(len(v) for v in cluster.values()) > 1:
            return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief() -> bool:
    """Whether this process writes the run's outputs: always, but for a non-chief task of a ``TF_CONFIG`` cluster
    (the chief is task ``chief`` 0, or ``worker`` 0 when the cluster has no chief)."""
    if not os.environ.get("TF_CONFIG"):
        return True
    config = json.loads(os.environ["TF_CONFIG"])
    task = config.get("task", {})
    if "chief" in config.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type", "worker") == "worker" and int(task.get("index", 0)) == 0


def set_threads(cfg: Train) -> bool:
    """Size TensorFlow's thread pools as ``cfg.intra_op_threads`` (threads inside one op) and
    ``cfg.inter_op_threads`` (ops run at once); 0 leaves TensorFlow's choice (``tf.config.threading``).

    On 2 CPU cores the ``cpu-quick`` LSTM-192 took 1.1x to 1.3x the steps per second with 1 intra-op and 2 inter-op
    threads than with TensorFlow's default pools in ``bench/tune_budget.py`` runs (a bare Keras fit of it, 1.35x to
    2x): its many small ops of each time step run side by side instead of each splitting over both cores. The pools
    can only be sized before TensorFlow starts its runtime, so every stage calls this first; a process whose runtime
    already runs with other sizes keeps them and logs a warning (the sizes change speed, never results beyond float
    rounding).

    Returns:
        Whether the pools now have the requested sizes.
    """
    wanted = {"intra_op": cfg.intra_op_threads, "inter_op": cfg.inter_op_threads}
    if not any(wanted.values()):
        return True
    import tensorflow as tf

    threading = tf.config.threading
    current = {"intra_op": threading.get_intra_op_parallelism_threads(),
               "inter_op": threading.get_inter_op_parallelism_threads()}
    if all(wanted[k] in (0, current[k]) for k in wanted):
        return True
    try:
        for kind, n in wanted.items():
            if n:
                getattr(threading, f"set_{kind}_parallelism_threads")(n)
    except RuntimeError:  # "... cannot be modified after initialization"
        logging.getLogger(__name__).warning(
            "TensorFlow already runs with %d intra-op and %d inter-op threads (0 = its choice); "
            "train.intra_op_threads=%d and train.inter_op_threads=%d apply only in a new process",
            current["intra_op"], current["inter_op"], cfg.intra_op_threads, cfg.inter_op_threads)
        return False
    return True


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


def _work_around_multi_worker_fit(model) -> None:
    """Let Keras 3's ``Model.fit`` train under ``MultiWorkerMirroredStrategy`` (tensorflow/tensorflow#72388).

    Keras 3.15 reduces each replica's logs with ``strategy.reduce("MEAN", value, axis=0)``, which fails on the
    scalar loss and metrics ("Invalid reduction dimension 0 for input with 0 dimensions"), and before the first step
    all-reduces an int32 data batch only to build the model symbolically, which fails too. Here the train and test
    steps return each log with a leading axis of 1, which that reduction averages over the workers back to a scalar;
    and the model forgets the strategy it was built under, so that the symbolic build is skipped (the model is
    already built) while ``fit()``, called inside the strategy's scope, still runs each step through
    ``strategy.run``.
    """
    model._distribute_strategy = None
    for name in ("train_step", "test_step"):
        step = getattr(model, name)

        def with_axis(data, step=step):
            return {key: value[None] for key, value in step(data).items()}

        setattr(model, name, with_axis)


def fit_generator(cfg: Train, vocab_size: int, train_tokens: np.ndarray, val_tokens: np.ndarray, *, seed: int,
                  callbacks: list | None = None, model=None, checkpoint: str | Path | None = None):
    """Build (unless ``model`` is given), compile and fit the generator of ``cfg`` with ``seed``.

    Windows of ``cfg.seq_len`` tokens are drawn by :func:`genforge.data.training_dataset` for ``cfg.epochs`` epochs of
    ``steps_per_epoch`` batches; val loss is scored after each epoch on the first ``cfg.val_batches`` batches of the
    val split's fixed chop; early stopping on val loss (``cfg.patience``) restores the best weights. Builds and trains
    under :func:`distribution_strategy`, with the thread pools of :func:`set_threads` when TensorFlow has not started.

    With ``checkpoint``, the run saves its whole state there every ``cfg.checkpoint_steps`` steps and at each epoch's
    end (:class:`genforge.checkpoint.TrainingState`), and a run started again with the same folder continues from
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
        :class:`~genforge.checkpoint.TrainingState` (``history``, ``step_losses``) and the batches per epoch.

    Raises:
        GenForgeError: a split is shorter than one window, or ``batch_size`` does not split evenly over the replicas.
    """
    import keras
    import tensorflow as tf

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
                          weight_decay=cfg.weight_decay, beta_2=cfg.beta_2, jit_compile=cfg.xla,
                          steps_per_execution=cfg.steps_per_execution)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        _work_around_multi_worker_fit(model)
        if checkpoint is not None:  # the workers cannot resume together from one process's checkpoint
            logging.getLogger(__name__).warning(
                "multi-worker training does not checkpoint (%s is not written): a killed run starts over", checkpoint)
            checkpoint = None
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


def main(argv: list[str] | None = None) -> int:
    """``python -m genforge.training [PARAMS]``: what a non-chief worker of a ``TF_CONFIG`` cluster runs while the
    chief runs the train stage. It trains the ``train`` section's model on the preprocessed splits exactly as the
    stage does (every worker must run the same steps), writes nothing, and prints ``{"val_loss", "steps"}`` as
    JSON. Exit status 2 with a message on bad params or data."""
    import argparse

    from genforge.config import load_params
    from genforge.data import load_tokens
    from genforge.tokenizers import load_tokenizer

    parser = argparse.ArgumentParser(prog="python -m genforge.training", description=main.__doc__)
    parser.add_argument("params", nargs="?", default="params.yaml")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        processed = Path(params.paths.processed)
        tokenizer = load_tokenizer(processed / "tokenizer.json")
        _, state, _ = fit_generator(params.train, tokenizer.vocab_size, load_tokens(processed / "train.npy"),
                                    load_tokens(processed / "val.npy"), seed=params.seed)
    except GenForgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"val_loss": state.best, "steps": state.step}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
