"""The resumable state of a training run: step checkpoints, early stopping, per-step losses and the epoch history.

One Keras callback, :class:`TrainingState`, owns everything a killed run needs to continue exactly where it stopped:
every variable of the model and of each optimizer it owns (one ``.npz`` of their values, in the order of
``model.variables`` then each optimizer's variables, see :func:`optimizers`, whose shapes and dtypes are checked on
restore), the global step (which fixes the
data position, see :func:`genforge.text.data.training_dataset`), the best weights and patience of early stopping, the
per-step losses and the per-epoch history. A checkpoint is a folder written beside the live one and renamed over it,
so a kill at any instant leaves either the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np

from genforge import GenForgeError

STATE_FILE = "state.json"
FORMAT = 2  # of state.json: 2 records every log key per step (format 1, one loss and accuracy, is not read)
WEIGHTS_FILE = "latest.npz"
BEST_FILE = "best.npz"


def _callback_base():
    import keras

    return keras.callbacks.Callback


class TrainingState(_callback_base()):
    """Checkpointing, early stopping and loss bookkeeping of one training run (a Keras callback).

    Args:
        folder: where the checkpoint lives; ``None`` keeps everything in memory (no resume).
        steps_per_epoch: batches per epoch.
        patience: epochs without an improvement of ``monitor`` before training stops (Keras ``EarlyStopping``
            semantics: never after the first epoch; the weights of the best epoch are restored by
            :meth:`restore_best`).
        every: save every ``every`` global steps as well as at each epoch's end (0 = epoch ends only).
        monitor: the epoch-log key early stopping and the best weights follow (``val_loss``, ``val_g_loss``, ...); an
            epoch whose logs lack it counts as no improvement.
        mode: ``"min"`` (lower is better) or ``"max"``.
        step_key: the log key recorded per step in ``step_losses``.

    Attributes:
        step: global steps done (all epochs).
        resumed_from: the global step restored from the checkpoint (0 for a fresh run).
        history: one dict per finished epoch: ``epoch`` (1-based), each training log key (``loss``, ``accuracy``,
            or a model's own such as ``d_loss`` and ``g_loss``) as the mean over the epoch's steps, each validation
            key (``val_loss``, ...) as Keras reports it, and ``monitor``.
        step_losses: ``(global step, value of step_key)`` per Keras progress report: each step's own value when
            ``steps_per_execution`` is 1, else the mean of the steps of each execution.
        stopped: early stopping has fired.
    """

    def __init__(self, folder: str | Path | None, *, steps_per_epoch: int, patience: int, every: int = 0,
                 monitor: str = "val_loss", mode: str = "min", step_key: str = "loss"):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
        self.monitor, self.mode, self.step_key = monitor, mode, step_key
        self.folder = Path(folder) if folder is not None else None
        self.steps_per_epoch = steps_per_epoch
        self.patience = patience
        self.every = every
        self.step = 0
        self.resumed_from = 0
        self.history: list[dict] = []
        self.step_losses: list[tuple[int, float]] = []
        self.stopped = False
        self.best = math.inf if mode == "min" else -math.inf
        self.wait = 0
        self._best_weights = None
        self._epoch_rows: list[tuple[int, dict[str, float]]] = []  # (steps, {key: value}) per report, this epoch
        self._last: tuple[int, dict[str, float]] = (-1, {})  # (batch, {key: running mean}) of the current fit epoch

    # --- persistence -------------------------------------------------------------------------------------------
    def restore(self, model) -> int:
        """Load the checkpoint into ``model`` (compiled; a lone optimizer is built here, several must be built by the
        model's ``compile``) and this object.

        Returns:
            The global step to continue from (0 when there is no checkpoint).

        Raises:
            GenForgeError: the checkpoint holds other variables than ``model`` and its optimizer (it was written for
                another model or by an older GenForge).
        """
        folder = self._readable()
        if folder is None:
            return 0
        state = json.loads((folder / STATE_FILE).read_text())
        owned = optimizers(model)
        if len(owned) == 1 and not owned[0].built:  # Keras builds a lone optimizer at the first step; do it now
            owned[0].build(model.trainable_variables)
        variables = _state_variables(model)
        if (state.get("format") != FORMAT or state.get("variables") != _signature(variables)
                or not (folder / WEIGHTS_FILE).exists()):
            raise GenForgeError(
                f"checkpoint {folder} does not hold this model's variables (their number, shapes or dtypes differ): "
                f"it was written for another model or by an older GenForge. Remove the folder to train from the "
                f"start")
        with np.load(folder / WEIGHTS_FILE) as saved:
            for i, variable in enumerate(variables):
                variable.assign(saved[f"arr_{i}"])
        self.step = self.resumed_from = state["step"]
        self.history = state["history"]
        self.step_losses = [tuple(x) for x in state["step_losses"]]
        self._epoch_rows = [(n, values) for n, values in state["epoch_rows"]]
        self.stopped, self.best, self.wait = state["stopped"], state["best"], state["wait"]
        if (folder / BEST_FILE).exists():
            with np.load(folder / BEST_FILE) as saved:
                self._best_weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        return self.step

    def _readable(self) -> Path | None:
        return None if self.folder is None else _saved_folder(self.folder)

    @staticmethod
    def saved(folder: str | Path) -> bool:
        """Whether ``folder`` holds a checkpoint that :meth:`restore` would load (or its ``.old`` copy does)."""
        return _saved_folder(Path(folder)) is not None

    def save(self) -> None:
        """Write the checkpoint: a new folder, then renamed over the old one (the old one is kept as ``.old`` until
        the rename is done)."""
        if self.folder is None:
            return
        tmp = self.folder.with_name(self.folder.name + ".tmp")
        old = self.folder.with_name(self.folder.name + ".old")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        # the variables' values, not model.save_weights: Keras's walk of the object graph took 0.18-0.26 s per save
        # for the cpu-gpt model here, against 0.05-0.08 s for these lines
        variables = _state_variables(self.model)
        np.savez(tmp / WEIGHTS_FILE, *(v.numpy() for v in variables))
        if self._best_weights is not None:
            np.savez(tmp / BEST_FILE, *self._best_weights)
        state = {"format": FORMAT, "variables": _signature(variables), "step": self.step, "history": self.history,
                 "step_losses": self.step_losses, "epoch_rows": self._epoch_rows, "stopped": self.stopped,
                 "best": self.best, "wait": self.wait}
        (tmp / STATE_FILE).write_text(json.dumps(state))
        if self.folder.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.folder, old)
        os.replace(tmp, self.folder)
        shutil.rmtree(old, ignore_errors=True)

    def remove(self) -> None:
        """Delete the checkpoint (after the trained model is written)."""
        if self.folder is not None:
            for suffix in ("", ".tmp", ".old"):
                shutil.rmtree(self.folder.with_name(self.folder.name + suffix), ignore_errors=True)

    @property
    def best_weights_missing(self) -> bool:
        """True when no epoch was scored (no best weights to restore)."""
        return self._best_weights is None

    def restore_best(self) -> None:
        """Set the model to the weights of the epoch with the best ``monitor`` (if any epoch was scored)."""
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)

    # --- Keras hooks -------------------------------------------------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        self._last = (-1, {})

    def on_train_batch_end(self, batch, logs=None):
        # Keras reports running means over this fit() call's part of the epoch after each execution; their
        # differences give the mean of the steps since the last report.
        prev_batch, prev = self._last
        means = {k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}
        n = batch - prev_batch
        values = {}
        for key, mean in means.items():
            before = prev.get(key, 0.0)
            with np.errstate(invalid="ignore", over="ignore"):
                values[key] = float(((batch + 1) * mean - (prev_batch + 1) * before) / n)
            if not math.isfinite(before):
                values[key] = math.nan  # once the running mean is NaN, later steps cannot be told apart
        self._last = (batch, means)
        self.step += n
        self.step_losses.append((self.step, values.get(self.step_key, math.nan)))
        self._epoch_rows.append((n, values))
        if self.every and self.step % self.every == 0 and self.step % self.steps_per_epoch:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        from genforge.core.averaging import averaged_weights

        logs = logs or {}
        steps = np.array([n for n, _ in self._epoch_rows], dtype=np.float64)
        row: dict[str, float] = {"epoch": epoch + 1}
        for key in self._epoch_rows[-1][1] if self._epoch_rows else ():
            values = np.array([v.get(key, math.nan) for _, v in self._epoch_rows])
            row[key] = float(np.sum(steps * values) / np.sum(steps))
        row.update({k: float(v) for k, v in logs.items() if k.startswith("val_")})
        row.setdefault(self.monitor, float(logs.get(self.monitor, math.nan)))
        self.history.append(row)
        self._epoch_rows = []
        value = row[self.monitor]
        if value < self.best if self.mode == "min" else value > self.best:
            self.best, self.wait = value, 0
            self._best_weights = averaged_weights(self.model)  # get_weights(), with averages where kept
        else:
            self.wait += 1
            if self.wait >= self.patience and epoch > 0:
                self.stopped = True
                self.model.stop_training = True
        self.save()


def _saved_folder(folder: Path) -> Path | None:
    """``folder``, or the ``.old`` copy a save leaves while it swaps folders, whichever holds a saved state."""
    for candidate in (folder, folder.with_name(folder.name + ".old")):
        if (candidate / STATE_FILE).exists():
            return candidate
    return None


def optimizers(model) -> list:
    """Every optimizer ``model`` owns: ``model.optimizer`` (when set) and, after it, each other Keras optimizer held
    in an attribute of the model, by attribute name (a GAN's ``d_optimizer`` and ``g_optimizer``, say)."""
    import keras

    found = [model.optimizer] if model.optimizer is not None else []
    for name in sorted(vars(model)):
        value = getattr(model, name, None)
        if isinstance(value, keras.optimizers.Optimizer) and all(value is not o for o in found):
            found.append(value)
    return found


def _state_variables(model) -> list:
    """Every variable a resumed run needs: the model's (weights and random-seed states) and each of its optimizers'
    (step count, moments; :func:`optimizers`). An optimizer other than ``model.optimizer`` must be built before a
    restore (a model with several builds them in its ``compile``)."""
    return [*model.variables, *(v for opt in optimizers(model) for v in opt.variables)]


def _signature(variables: list) -> list[list]:
    """``[shape, dtype]`` of each variable: what a checkpoint must match to be restored. Not the paths: Keras numbers
    the names of optimizers and seed generators per process (``adam_w_1``), so a model built twice differs in them."""
    return [[list(v.shape), str(v.dtype)] for v in variables]
