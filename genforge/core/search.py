"""The hyperparameter search of one generator: an Optuna study over its ``search.space``, kept in SQLite so that a
killed search resumes where it stopped, each trial trained in a process of its own.

Sampler: TPE (Bergstra et al. (2011), *Algorithms for Hyper-Parameter Optimization*) with the constant liar for
parallel trials; pruner: the median stopping rule (Golovin et al. (2017), *Google Vizier*) on each epoch's val loss.
The flow that schedules the trials is :mod:`pipelines.search`; a trial's process is :mod:`genforge.core.search_trial`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from genforge import GenForgeError
from genforge.core.config import SearchBase

TRIAL_TAG = "optuna.trial_number"  # MLflow tag of a trial's run: its number in the study


def distributions(space: SearchBase, train) -> dict:
    """The Optuna distribution of each dimension of ``space.space``: ``choices`` -> ``CategoricalDistribution``; a
    range -> ``IntDistribution`` when the train key holds an int, else ``FloatDistribution`` (``log`` =
    log-uniform). Keys are ``"train.<key>"``; ``train`` is the generator's train section."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for key, dim in space.space.items():
        current = getattr(train, key.split(".", 1)[1])
        if dim.choices is not None:
            out[key] = CategoricalDistribution(dim.choices)
        elif isinstance(current, int) and not isinstance(current, bool):
            out[key] = IntDistribution(int(dim.low), int(dim.high), log=dim.log)
        else:
            out[key] = FloatDistribution(dim.low, dim.high, log=dim.log)
    return out


def suggest(trial, dists: dict) -> dict[str, float | int | str | bool]:
    """Draw one value per distribution of :func:`distributions` with ``trial``'s ``suggest_*``. Returns
    ``{"train.<key>": value}``."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    values = {}
    for key, dist in dists.items():
        if isinstance(dist, CategoricalDistribution):
            values[key] = trial.suggest_categorical(key, dist.choices)
        elif isinstance(dist, IntDistribution):
            values[key] = trial.suggest_int(key, dist.low, dist.high, log=dist.log)
        else:
            values[key] = trial.suggest_float(key, dist.low, dist.high, log=dist.log)
    return values


def trial_train_config(train, values: dict, search: SearchBase):
    """The train section of one trial: ``train`` (the generator's) with the trial's ``values`` and
    ``search.epochs`` / ``search.steps_per_epoch``, validated as ``type(train)``.

    Raises:
        GenForgeError: a value the train section refuses (named with its key).
    """
    from pydantic import ValidationError

    merged = {**train.model_dump(), **{k.split(".", 1)[1]: v for k, v in values.items()},
              "epochs": search.epochs, "steps_per_epoch": search.steps_per_epoch}
    try:
        return type(train).model_validate(merged)
    except ValidationError as e:
        raise GenForgeError(f"search.space gives the train section a value it refuses: {e}") from None


def overrides(values: dict, prefix: str = "") -> list[str]:
    """``dvc exp run`` arguments that set each ``prefix + key: value``: ``["-S",
    "generators.plays-char-lstm.train.units=256", ...]`` with ``prefix`` ``generators.plays-char-lstm.``. Floats are
    written with ``repr``, the shortest text that reads back as the same float, with a ``.0`` added to a bare
    exponent form so that YAML reads a float."""
    args = []
    for key, value in values.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, float):
            text = repr(value)
            mantissa, e, exponent = text.partition("e")
            if e and "." not in mantissa:  # YAML 1.1 (PyYAML) reads 5e-05 as a string, 5.0e-05 as a float
                text = f"{mantissa}.0e{exponent}"
        else:
            text = str(value)
        args += ["-S", f"{prefix}{key}={text}"]
    return args


def hold_lock(cfg: SearchBase):
    """Take the lock file of the study's storage (one search per storage at a time); the caller releases it.

    Raises:
        GenForgeError: another search holds it.
    """
    import filelock

    storage = Path(cfg.storage).resolve()
    storage.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(f"{storage}.lock")
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise GenForgeError(f"another search is running on {cfg.storage}; wait for it to finish") from None
    return lock


def storage_url(cfg: SearchBase) -> str:
    """The Optuna storage URL of ``cfg.storage`` (a SQLite file, its folder created)."""
    storage = Path(cfg.storage).resolve()
    storage.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{storage}"


def open_study(cfg: SearchBase):
    """Create the study ``cfg.study`` in its storage, or load it to resume. A resumed study's TPE seed is
    ``sampler_seed`` plus the trials stored, so that it does not replay the first run's draws."""
    import optuna

    study = optuna.create_study(
        study_name=cfg.study, storage=storage_url(cfg), load_if_exists=True, direction="minimize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=cfg.startup_trials, n_warmup_steps=cfg.warmup_epochs),
    )
    study.sampler = optuna.samplers.TPESampler(seed=cfg.sampler_seed + len(study.get_trials(deepcopy=False)),
                                               constant_liar=True)
    return study


def recover(study, experiment: str) -> list[int]:
    """Trials a killed search left RUNNING: mark them failed, their MLflow runs KILLED, and queue their params again
    so that the resumed search retries them first. Returns their numbers."""
    from optuna.trial import TrialState

    from genforge.core import tracking

    interrupted = list(study.user_attrs.get("interrupted_trials", []))
    found = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(t.number, state=TrialState.FAIL)
        interrupted.append(t.number)
        found.append(t.number)
        study.set_user_attr("interrupted_trials", interrupted)  # not counted against search.trials
        study.enqueue_trial(t.params)
        tracking.end_runs_with_tag(experiment, TRIAL_TAG, str(t.number), "KILLED")
    return found


def check_space(study, dists: dict) -> None:
    """Refuse a stored study whose trials drew from another space: Optuna cannot mix the two.

    Raises:
        GenForgeError: a stored trial's distribution differs from ``dists`` (named with its key).
    """
    for t in study.get_trials(deepcopy=False):
        for key, dist in t.distributions.items():
            if dists.get(key) != dist:
                raise GenForgeError(
                    f"study {study.study_name!r} in its storage was searched over another space ({key}: {dist} in "
                    f"trial {t.number}, now {dists.get(key, 'absent')}); give search.study a new name, or delete "
                    "the storage file to start again")


def counted(study) -> int:
    """Trials that count against ``search.trials``: complete, pruned or failed, but not the interrupted ones
    (retried instead)."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
    return len([t for t in done if t.number not in study.user_attrs.get("interrupted_trials", [])])


def tell(study, trial, state: str, value: float) -> None:
    """Record a trial's outcome (``complete`` with its value, ``pruned`` or ``failed``) in the study."""
    from optuna.trial import TrialState

    if state == "complete":
        study.tell(trial, value)
    else:
        study.tell(trial, state=TrialState.PRUNED if state == "pruned" else TrialState.FAIL)


def write_best(study, output: Path, prefix: str = "") -> dict:
    """Write ``output/best_params.yaml`` (study, trial, val_loss, params) and ``output/best_overrides.txt`` (the
    best params as ``dvc exp run`` arguments with ``prefix``); return the first file's content.

    Raises:
        GenForgeError: no trial completed (the message lists each trial's state); nothing is written.
    """
    import yaml
    from optuna.trial import TrialState

    from genforge.core.files import atomic_path

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        states = [t.state.name.lower() for t in study.get_trials(deepcopy=False)]
        raise GenForgeError(f"no trial of study {study.study_name!r} completed ({', '.join(states)}), so there is no "
                            "best trial: check the search space (a diverging learning rate gives NaN losses)")
    best = study.best_trial
    output.mkdir(parents=True, exist_ok=True)
    summary = {"study": study.study_name, "trial": best.number, "val_loss": best.value, "params": best.params}
    with atomic_path(output / "best_params.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(summary, sort_keys=False))
    with atomic_path(output / "best_overrides.txt") as tmp:
        args = overrides(best.params, prefix)
        tmp.write_text("".join(f"{flag} {value}\n" for flag, value in zip(args[::2], args[1::2], strict=True)))
    return summary


def run_trial_process(request: dict[str, Any]) -> tuple[str, float]:
    """Train one trial in a new Python process (:mod:`genforge.core.search_trial`): Keras's seed, dtype policy and
    graph are process-global, so trials run side by side only in processes of their own.

    ``request`` holds ``params_path``, ``generator``, ``trial_id``, ``number``, ``values``, ``seed`` and
    ``parent_run_id`` (see :func:`genforge.core.search_trial.main`).

    Returns:
        ``(state, value)``: ``("complete", best val loss)``, ``("pruned", last val loss)`` or ``("failed", nan)``.

    Raises:
        GenForgeError: the process failed (its exit code and the end of its output in the message).
    """
    with tempfile.TemporaryDirectory(prefix="genforge-trial-") as tmp:
        result = Path(tmp) / "result.json"
        proc = subprocess.run([sys.executable, "-m", "genforge.core.search_trial",
                               json.dumps({**request, "result": str(result)})],
                              capture_output=True, text=True, env=os.environ.copy())
        if proc.returncode != 0 or not result.exists():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise GenForgeError(f"trial {request['number']} failed (exit code {proc.returncode}):\n{tail}")
        out = json.loads(result.read_text())
    return out["state"], float(out["value"])
