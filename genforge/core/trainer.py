"""Fitting any ``keras.Model``: the device strategy, TensorFlow's thread pools, the learning-rate schedule and the
resumable fit loop behind every modality's train stage.

:func:`fit` trains a compiled model with :class:`genforge.core.checkpoint.TrainingState`: step checkpoints of the
model and every optimizer it owns, early stopping on a named metric in either direction, and an exact resume after a
kill. The model may be a subclass whose ``train_step`` returns several named losses (a VAE, a GAN with two
optimizers): the state records whichever keys its logs hold. Optimizers built with ``use_ema=True`` keep an
exponential moving average of the weights (:mod:`genforge.core.averaging`): validation, the best weights and the
returned model then use the averaged weights.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.core.averaging import averaged_weights, swap_callback
from genforge.core.checkpoint import TrainingState, optimizers


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
        cluster = tf_config()["cluster"]
        if sum(len(v) for v in cluster.values()) > 1:
            return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def tf_config() -> dict:
    """``TF_CONFIG`` parsed: a JSON object with a ``cluster`` mapping of task types to address lists and,
    optionally, this process's ``task`` (``{"type", "index"}``) (TensorFlow guide *Distributed training*).

    Raises:
        GenForgeError: it is not such an object; the message quotes what is wrong.
    """
    text = os.environ.get("TF_CONFIG", "")
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config.get("task", {})
        if not (isinstance(cluster, dict) and all(isinstance(v, list) for v in cluster.values())
                and isinstance(task, dict)):
            raise TypeError("'cluster' must map task types to lists of addresses and 'task' must be an object")
        int(task.get("index", 0))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise GenForgeError(f"TF_CONFIG is not a JSON object with a 'cluster' of task lists ({type(e).__name__}: "
                            f"{e}; got {text[:200]!r}); see "
                            "https://www.tensorflow.org/guide/distributed_training#TF_CONFIG") from None
    return config


def is_chief() -> bool:
    """Whether this process writes the run's outputs: always, but for a non-chief task of a ``TF_CONFIG`` cluster
    (the chief is task ``chief`` 0, or ``worker`` 0 when the cluster has no chief).

    Raises:
        GenForgeError: ``TF_CONFIG`` is malformed (:func:`tf_config`).
    """
    if not os.environ.get("TF_CONFIG"):
        return True
    config = tf_config()
    task = config.get("task", {})
    if "chief" in config.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type", "worker") == "worker" and int(task.get("index", 0)) == 0


def set_threads(cfg) -> bool:
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


def learning_rate(cfg, total_steps: int):
    """The learning rate of ``cfg``: a float (``constant``), or for ``cosine`` a Keras ``CosineDecay`` that rises
    linearly from 0 to ``cfg.learning_rate`` over ``warmup_steps`` and then follows a half cosine down to
    ``min_lr_ratio * learning_rate`` at ``total_steps`` (Loshchilov & Hutter (2017), *SGDR*, eq. 5, one cycle;
    warmup as in Goyal et al. (2017)).

    >>> from types import SimpleNamespace
    >>> s = learning_rate(SimpleNamespace(lr_schedule="cosine", learning_rate=1.0, warmup_steps=10,
    ...                                   min_lr_ratio=0.1), 110)
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


def work_around_multi_worker_fit(model) -> None:
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




def fit(model, dataset: Callable[[int, int], object], *, strategy, epochs: int, steps_per_epoch: int,
        validation_data, validation_batch_size: int | None = None, monitor: str = "val_loss", mode: str = "min",
        patience: int, checkpoint: str | Path | None = None, checkpoint_steps: int = 0,
        callbacks: list | None = None, step_key: str = "loss") -> TrainingState:
    """Fit a compiled ``model`` for ``epochs`` epochs of ``steps_per_epoch`` batches, resumable after a kill.

    The state (:class:`genforge.core.checkpoint.TrainingState`) is saved to ``checkpoint`` every ``checkpoint_steps``
    steps and at each epoch's end; started again with the same folder, the run continues from the last save (weights,
    every optimizer's variables, the step, early stopping) and ends where an uninterrupted run ends, provided
    ``dataset`` gives the same batches for the same ``start_step``. Early stopping watches ``monitor`` (a key of the
    epoch logs, ``val_<name>`` for validation figures) for ``mode`` ``"min"`` or ``"max"`` and restores the best
    epoch's weights at the end. Under ``MultiWorkerMirroredStrategy`` ``checkpoint`` is ignored (with a warning):
    every worker would have to resume from the same step, and only the chief writes.

    Args:
        model: a compiled ``keras.Model`` (every optimizer it owns built, see :class:`TrainingState`).
        dataset: ``dataset(start_step, epochs)`` returns the batches from global step ``start_step`` on (a
            ``tf.data.Dataset`` or any input ``Model.fit`` takes), for training to epoch ``epochs``.
        strategy: the ``tf.distribute`` strategy the model was built under (:func:`distribution_strategy`).
        validation_data, validation_batch_size: passed to ``Model.fit``.
        patience: epochs without improvement of ``monitor`` before stopping (never after the first epoch).
        callbacks: extra Keras callbacks, run before the state's.
        step_key: the log key recorded per step in ``state.step_losses``.

    Returns:
        The :class:`TrainingState` (``history``, ``step_losses``, ``step``), with the model at its best weights.
    """
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        work_around_multi_worker_fit(model)
        if checkpoint is not None:  # the workers cannot resume together from one process's checkpoint
            logging.getLogger(__name__).warning(
                "multi-worker training does not checkpoint (%s is not written): a killed run starts over", checkpoint)
            checkpoint = None
    state = TrainingState(checkpoint, steps_per_epoch=steps_per_epoch, patience=patience, every=checkpoint_steps,
                          monitor=monitor, mode=mode, step_key=step_key)
    state.set_model(model)
    done = state.restore(model)
    averaging = [o for o in optimizers(model) if getattr(o, "use_ema", False)]
    extra = [swap_callback()] if averaging else []
    last = _last_iterate_callback()
    progress = progress_callback(state, epochs * steps_per_epoch)
    verbose = 1 if sys.stdout.isatty() else 2
    epoch, into = divmod(done, steps_per_epoch)
    # a resumed run finishes its interrupted epoch with a fit() of the remaining steps, then runs whole epochs
    for first, length in ((epoch, steps_per_epoch - into), (epoch + 1, steps_per_epoch)) if into else \
            ((epoch, steps_per_epoch),):
        if state.stopped or first >= epochs:
            break
        ds = dataset(first * steps_per_epoch + (steps_per_epoch - length), epochs)
        with strategy.scope():
            model.fit(ds, initial_epoch=first, epochs=first + 1 if length < steps_per_epoch else epochs,
                      steps_per_epoch=length, validation_data=validation_data,
                      validation_batch_size=validation_batch_size,
                      callbacks=[*(callbacks or []), *extra, state, last, progress], shuffle=False,
                      verbose=verbose)
        if averaging:  # a later fit() or the best weights decide; not Keras's end-of-fit overwrite with the average
            last.put_back()
    state.restore_best()
    if averaging and state.best_weights_missing:
        model.set_weights(averaged_weights(model))
    return state


def progress_callback(state: TrainingState, total_steps: int, every_s: float = 30.0, clock=None, out=None):
    """A Keras callback that prints, at most every ``every_s`` seconds of wall time, one line of progress:
    ``progress: step S/T (P %), <step_key> L, R steps/s, ETA M min`` (the rate over the steps since the previous
    line; the step and the loss from ``state``, after its own ``on_train_batch_end``). It reads the clock once per
    step and touches no tensor. ``clock`` (seconds, default ``time.monotonic``) and ``out`` (default standard
    output) are for tests."""
    import time

    import keras

    clock = clock or time.monotonic
    write = out or (lambda line: print(line, flush=True))

    class Progress(keras.callbacks.Callback):
        mark: tuple[float, int] | None = None

        def on_train_batch_end(self, batch, logs=None):
            now = clock()
            if self.mark is None:
                self.mark = (now, state.step)
            elif now - self.mark[0] >= every_s and state.step > self.mark[1]:
                rate = (state.step - self.mark[1]) / (now - self.mark[0])
                loss = state.step_losses[-1][1] if state.step_losses else float("nan")
                left = max(total_steps - state.step, 0) / rate / 60
                write(f"progress: step {state.step}/{total_steps} ({100 * state.step / total_steps:.0f} %), "
                      f"{state.step_key} {loss:.4f}, {rate:.2f} steps/s, ETA {left:.1f} min")
                self.mark = (now, state.step)

    return Progress()


def _last_iterate_callback():
    """Keras's ``fit()`` ends by setting ``model.optimizer``'s variables to their averages
    (``finalize_variable_values``) when it keeps them; a run continued by another ``fit()`` (a resume) must go on from
    the last iterate instead, as an uninterrupted run does. This callback records it at each epoch's end; its
    ``put_back()`` restores it."""
    import keras

    class LastIterate(keras.callbacks.Callback):
        values: list = []

        def on_epoch_end(self, epoch, logs=None):
            self.values = [np.array(v) for v in self.model.trainable_variables]

        def put_back(self):
            for variable, value in zip(self.model.trainable_variables, self.values, strict=True):
                variable.assign(value)

    return LastIterate()
