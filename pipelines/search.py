"""The hyperparameter search flow: an Optuna study over the ``search.space`` of one generator, trials trained in
parallel as Prefect tasks, each a nested MLflow run under one parent run, the study kept in SQLite so that a killed
search resumes where it stopped. The best trial is written as ``dvc exp run`` arguments; params.yaml is never edited.

    python -m pipelines.search --generator NAME [--params params.yaml]   (or: make search GENERATOR=NAME)
    dvc exp run $(cat search/best_overrides.txt)            (train the pipeline with the best trial's params)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from genforge import GenForgeError
from genforge.core.config import Job, job, load_params
from genforge.text.config import Search, Train

TRIAL_TAG = "optuna.trial_number"


def distributions(space: Search, train: Train) -> dict:
    """The Optuna distribution of each dimension of ``space.space``: ``choices`` -> ``CategoricalDistribution``; a
    range -> ``IntDistribution`` when the train key holds an int, else ``FloatDistribution`` (``log`` =
    log-uniform). Keys are ``"train.<key>"``."""
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


def suggest(trial, space: Search, train: Train) -> dict[str, float | int | str | bool]:
    """Draw one value per dimension of ``space.space`` with ``trial``'s ``suggest_*`` over :func:`distributions`.
    Returns ``{"train.<key>": value}``."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    values = {}
    for key, dist in distributions(space, train).items():
        if isinstance(dist, CategoricalDistribution):
            values[key] = trial.suggest_categorical(key, dist.choices)
        elif isinstance(dist, IntDistribution):
            values[key] = trial.suggest_int(key, dist.low, dist.high, log=dist.log)
        else:
            values[key] = trial.suggest_float(key, dist.low, dist.high, log=dist.log)
    return values


def trial_train_config(params: Job, values: dict) -> Train:
    """The ``train`` section of one trial: params.yaml's, with the trial's values and ``search.epochs`` /
    ``search.steps_per_epoch``, and no per-epoch samples.

    Raises:
        GenForgeError: a value the ``train`` section refuses (named with its key).
    """
    from pydantic import ValidationError

    merged = {**params.train.model_dump(), **{k.split(".", 1)[1]: v for k, v in values.items()},
              "epochs": params.search.epochs, "steps_per_epoch": params.search.steps_per_epoch, "sample_tokens": 0}
    try:
        return Train.model_validate(merged)
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


@task(cache_policy=NO_CACHE, task_run_name="trial-{number}")
def run_trial(trial, number: int, params: Job, parent_run_id: str, experiment_id: str,
              train_tokens: np.ndarray, val_tokens: np.ndarray, vocab_size: int) -> tuple[str, float | None]:
    """Train one trial in its own MLflow child run, reporting each epoch's val loss to the pruner.

    Returns:
        ``("complete", best val loss)``, ``("pruned", last val loss)`` or ``("failed", nan)`` when a val loss was
        not finite.
    """
    import keras
    import mlflow

    from genforge.core import tracking
    from genforge.text.training import fit_generator

    values = suggest(trial, params.search, params.train)
    cfg = trial_train_config(params, values)
    client = mlflow.MlflowClient()
    run = client.create_run(experiment_id, run_name=f"trial-{number}",
                            tags={"mlflow.parentRunId": parent_run_id, TRIAL_TAG: str(number),
                                  "optuna.study": params.search.study})
    run_id = run.info.run_id
    client.log_batch(run_id, params=[mlflow.entities.Param(k, str(v))
                                     for k, v in tracking.flatten({"train": cfg.model_dump()}).items()])

    class ReportToPruner(keras.callbacks.Callback):
        pruned = False

        def on_epoch_end(self, epoch, logs=None):
            val_loss = float(logs["val_loss"])
            client.log_metric(run_id, "val_loss", val_loss, step=epoch + 1)
            trial.report(val_loss, epoch + 1)
            if trial.should_prune():
                self.pruned = True
                self.model.stop_training = True

    report = ReportToPruner()
    try:
        _, run_state, _ = fit_generator(cfg, vocab_size, train_tokens, val_tokens, seed=params.seed,
                                        callbacks=[report])
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    losses = [row["val_loss"] for row in run_state.history]
    state, value = ("pruned", float(losses[-1])) if report.pruned else ("complete", float(min(losses)))
    if not np.isfinite(losses).all():
        state, value = "failed", float("nan")  # a diverged trial: recorded as failed, never the best
    client.set_tag(run_id, "optuna.state", state)
    client.log_metric(run_id, "best_val_loss" if state == "complete" else "last_val_loss", value)
    client.set_terminated(run_id, "FINISHED")
    return state, value


def _lock(cfg: Search):
    """Hold the storage's lock file: one search per study storage at a time.

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


def _check_splits(processed: Path, generator: str) -> None:
    for name in ("train.npy", "val.npy", "tokenizer.json"):
        if not (processed / name).exists():
            raise GenForgeError(f"{processed / name} is missing: run `dvc repro preprocess@{generator}` before "
                               "the search")


def _study(params: Job):
    import optuna

    cfg = params.search
    storage = Path(cfg.storage).resolve()
    storage.parent.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name=cfg.study, storage=f"sqlite:///{storage}", load_if_exists=True, direction="minimize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=cfg.startup_trials, n_warmup_steps=cfg.warmup_epochs),
    )
    # a resumed study must not replay the random draws of the first run: the seed moves on with the trials stored
    study.sampler = optuna.samplers.TPESampler(seed=cfg.sampler_seed + len(study.get_trials(deepcopy=False)),
                                               constant_liar=True)
    return study


def _recover(study, client, logger) -> None:
    """Trials a killed search left RUNNING: mark them failed, their MLflow runs KILLED, and queue their params again
    so that the resumed search retries them first."""
    from optuna.trial import TrialState

    interrupted = list(study.user_attrs.get("interrupted_trials", []))
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(t.number, state=TrialState.FAIL)
        interrupted.append(t.number)
        study.set_user_attr("interrupted_trials", interrupted)  # not counted against search.trials
        study.enqueue_trial(t.params)
        for run in client.search_runs([study.user_attrs["mlflow_experiment_id"]],
                                      f"tags.`{TRIAL_TAG}` = '{t.number}' and attributes.status = 'RUNNING'"):
            client.set_terminated(run.info.run_id, "KILLED")
        logger.info("trial %d was interrupted: marked failed and queued again with the same params", t.number)


def _check_space(study, dists: dict) -> None:
    """Refuse a stored study whose trials drew from another space: Optuna cannot mix the two."""
    for t in study.get_trials(deepcopy=False):
        for key, dist in t.distributions.items():
            if dists.get(key) != dist:
                raise GenForgeError(
                    f"study {study.study_name!r} in its storage was searched over another space ({key}: {dist} in "
                    f"trial {t.number}, now {dists.get(key, 'absent')}); give search.study a new name, or delete "
                    "the storage file to start again")


def _counted(study) -> int:
    """Trials that count against ``search.trials``: complete, pruned or failed, but not the interrupted ones
    (retried instead)."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
    return len([t for t in done if t.number not in study.user_attrs.get("interrupted_trials", [])])


def _write_best(study, output: Path, prefix: str = "") -> dict:
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


def searched(params_path: str, generator: str) -> Job:
    """The :class:`Job` of ``generator``, which must have a ``search`` section.

    Raises:
        GenForgeError: no such generator, or it has no ``search`` section.
    """
    gen = job(load_params(params_path), generator)
    if getattr(gen.generator, "search", None) is None:
        raise GenForgeError(f"generators.{generator} has no search section in {params_path}; add one (see the "
                            "README, \"Hyperparameter search\")")
    return gen


@flow(name="genforge-search", log_prints=True)
def search(generator: str, params_path: str = "params.yaml") -> dict:
    """Run or resume the Optuna study of the ``search`` section of generator ``generator`` in params.yaml until
    ``search.trials`` trials are done (complete, pruned, or failed with a non-finite val loss; interrupted ones are
    retried), ``search.parallel`` at a time.

    Trials minimise the val loss (nats/token) of the preprocessed val split after ``search.epochs`` epochs (the best
    epoch's); the test split is never read. Sampler: TPE (Bergstra et al. (2011), *Algorithms for Hyper-Parameter
    Optimization*) with the constant liar for parallel trials; pruner: median stopping rule (Golovin et al. (2017),
    *Google Vizier*) on each epoch's val loss.

    Returns:
        ``{"study", "trial", "val_loss", "params", "parent_run_id", "finished"}``; the first four are also written to
        ``search.output/best_params.yaml``, and ``best_overrides.txt`` holds the best params as ``-S key=value``.

    Raises:
        GenForgeError: the preprocessed splits are missing, another search is running on the same storage, the
            stored study was searched over another space, or no trial completed.
    """
    import mlflow

    from genforge.core import tracking
    from genforge.text.data import load_tokens
    from genforge.text.tokenizers import load_tokenizer

    logger = get_run_logger()
    params = searched(params_path, generator)
    cfg = params.search
    processed = Path(params.paths.processed)
    _check_splits(processed, params.name)
    tokenizer = load_tokenizer(processed / "tokenizer.json")
    train_tokens, val_tokens = load_tokens(processed / "train.npy"), load_tokens(processed / "val.npy")

    lock = _lock(cfg)
    try:
        study = _study(params)
        client = mlflow.MlflowClient(tracking.tracking_uri())
        mlflow.set_tracking_uri(tracking.tracking_uri())
        if "mlflow_parent_run_id" not in study.user_attrs:
            experiment_id = tracking.experiment_id(cfg.experiment)
            parent = client.create_run(experiment_id, run_name=f"search-{cfg.study}",
                                       tags={"optuna.study": cfg.study, "stage": "search"})
            study.set_user_attr("mlflow_parent_run_id", parent.info.run_id)
            study.set_user_attr("mlflow_experiment_id", experiment_id)
        parent_id, experiment_id = study.user_attrs["mlflow_parent_run_id"], study.user_attrs["mlflow_experiment_id"]
        client.update_run(parent_id, status="RUNNING")
        try:
            summary = _run_study(study, params, client, parent_id, experiment_id, tokenizer.vocab_size,
                                 train_tokens, val_tokens, logger)
        except BaseException:
            client.set_terminated(parent_id, "FAILED")
            raise
        client.log_batch(parent_id, params=[mlflow.entities.Param(f"best.{k}", str(v))
                                            for k, v in summary["params"].items()])
        client.log_metric(parent_id, "best_val_loss", summary["val_loss"])
        client.set_tag(parent_id, "best.trial", str(summary["trial"]))
        client.set_terminated(parent_id, "FINISHED")
        print(f"best trial {summary['trial']}: val loss {summary['val_loss']:.4f} with {summary['params']}; "
              f"apply it with: dvc exp run $(cat {Path(cfg.output) / 'best_overrides.txt'})")
        return {**summary, "parent_run_id": parent_id, "finished": _counted(study)}
    finally:
        lock.release()


def _run_study(study, params: Job, client, parent_id: str, experiment_id: str, vocab_size: int,
               train_tokens: np.ndarray, val_tokens: np.ndarray, logger) -> dict:
    """Recover interrupted trials, run trials ``search.parallel`` at a time until ``search.trials`` count, and
    write the best trial's files."""
    from optuna.trial import TrialState

    cfg = params.search
    _check_space(study, distributions(cfg, params.train))
    _recover(study, client, logger)
    remaining = cfg.trials - _counted(study)
    logger.info("study %s: %d trials done, %d to run, %d at a time", cfg.study, cfg.trials - max(remaining, 0),
                max(remaining, 0), cfg.parallel)
    running: dict = {}
    with ThreadPoolTaskRunner(max_workers=cfg.parallel) as runner:
        while remaining > 0 or running:
            while remaining > 0 and len(running) < cfg.parallel:
                trial = study.ask()
                future = runner.submit(run_trial, parameters={
                    "trial": trial, "number": trial.number, "params": params, "parent_run_id": parent_id,
                    "experiment_id": experiment_id, "train_tokens": train_tokens, "val_tokens": val_tokens,
                    "vocab_size": vocab_size})
                running[future] = trial
                remaining -= 1
            done = next(as_completed(list(running)))
            trial = running.pop(done)
            try:
                state, value = done.result()
            except BaseException:
                study.tell(trial, state=TrialState.FAIL)  # recorded, not retried (Optuna's own default)
                raise
            if state == "complete":
                study.tell(trial, value)
            else:
                study.tell(trial, state=TrialState.PRUNED if state == "pruned" else TrialState.FAIL)
            logger.info("trial %d %s: val loss %.4f", trial.number, state, value)
    return _write_best(study, Path(cfg.output), f"generators.{params.name}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.search", description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("--generator", required=True, help="the generator of params.yaml whose search runs")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        params = searched(args.params, args.generator)  # bad params, missing splits, a busy study: errors before
        _check_splits(Path(params.paths.processed), params.name)  # a server starts
        _lock(params.search).release()
        search(args.generator, args.params)
    except GenForgeError as e:
        print(f"search: error: {e}", file=sys.stderr)
        return 2
    print(f"search: done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
