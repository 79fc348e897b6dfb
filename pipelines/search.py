"""The hyperparameter search flow: an Optuna study over the ``search.space`` of params.yaml, trials trained in
parallel as Prefect tasks, each a nested MLflow run under one parent run, the study kept in SQLite so that a killed
search resumes where it stopped. The best trial is written as ``dvc exp run`` arguments; params.yaml is never edited.

    python -m pipelines.search [--params params.yaml]      (or: make search)
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
from genforge.config import Params, Search, Train, load_params

TRIAL_TAG = "optuna.trial_number"


def suggest(trial, space: Search, train: Train) -> dict[str, float | int | str | bool]:
    """Draw one value per dimension of ``space.space`` with ``trial``'s ``suggest_*``: ``choices`` with
    ``suggest_categorical``; a range with ``suggest_int`` when the train key holds an int, else ``suggest_float``
    (``log`` = log-uniform). Returns ``{"train.<key>": value}``."""
    values = {}
    for key, dim in space.space.items():
        name = key.split(".", 1)[1]
        if dim.choices is not None:
            values[key] = trial.suggest_categorical(key, dim.choices)
        elif isinstance(getattr(train, name), int) and not isinstance(getattr(train, name), bool):
            values[key] = trial.suggest_int(key, int(dim.low), int(dim.high), log=dim.log)
        else:
            values[key] = trial.suggest_float(key, dim.low, dim.high, log=dim.log)
    return values


def trial_train_config(params: Params, values: dict) -> Train:
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


def overrides(values: dict) -> list[str]:
    """``dvc exp run`` arguments that set each ``key: value``: ``["-S", "train.units=256", ...]``. Floats are
    written with ``repr``, the shortest text that reads back as the same float."""
    args = []
    for key, value in values.items():
        text = "true" if value is True else "false" if value is False else repr(value) if isinstance(value, float) \
            else str(value)
        args += ["-S", f"{key}={text}"]
    return args


@task(cache_policy=NO_CACHE, task_run_name="trial-{number}")
def run_trial(trial, number: int, params: Params, parent_run_id: str, experiment_id: str,
              train_tokens: np.ndarray, val_tokens: np.ndarray, vocab_size: int) -> tuple[str, float | None]:
    """Train one trial in its own MLflow child run, reporting each epoch's val loss to the pruner.

    Returns:
        ``("complete", best val loss)`` or ``("pruned", last val loss)``.
    """
    import keras
    import mlflow

    from genforge import tracking
    from genforge.training import fit_generator

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
        _, history, _ = fit_generator(cfg, vocab_size, train_tokens, val_tokens, seed=params.seed, callbacks=[report])
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    losses = history.history["val_loss"]
    state, value = ("pruned", float(losses[-1])) if report.pruned else ("complete", float(min(losses)))
    client.set_tag(run_id, "optuna.state", state)
    client.log_metric(run_id, "best_val_loss" if state == "complete" else "last_val_loss", value)
    client.set_terminated(run_id, "FINISHED")
    return state, value


def _check_splits(processed: Path) -> None:
    for name in ("train.npy", "val.npy", "tokenizer.json"):
        if not (processed / name).exists():
            raise GenForgeError(f"{processed / name} is missing: run `dvc repro preprocess` before the search")


def _study(params: Params):
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

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(t.number, state=TrialState.FAIL)
        study.enqueue_trial(t.params)
        for run in client.search_runs([study.user_attrs["mlflow_experiment_id"]],
                                      f"tags.`{TRIAL_TAG}` = '{t.number}' and attributes.status = 'RUNNING'"):
            client.set_terminated(run.info.run_id, "KILLED")
        logger.info("trial %d was interrupted: marked failed and queued again with the same params", t.number)


def _write_best(study, output: Path) -> dict:
    import yaml

    from genforge.files import atomic_path

    best = study.best_trial
    output.mkdir(parents=True, exist_ok=True)
    summary = {"study": study.study_name, "trial": best.number, "val_loss": best.value, "params": best.params}
    with atomic_path(output / "best_params.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(summary, sort_keys=False))
    with atomic_path(output / "best_overrides.txt") as tmp:
        args = overrides(best.params)
        tmp.write_text("".join(f"{flag} {value}\n" for flag, value in zip(args[::2], args[1::2], strict=True)))
    return summary


@flow(name="genforge-search", log_prints=True)
def search(params_path: str = "params.yaml") -> dict:
    """Run or resume the Optuna study of ``search`` in params.yaml until it holds ``search.trials`` finished
    (complete or pruned) trials, ``search.parallel`` at a time.

    Trials minimise the val loss (nats/token) of the preprocessed val split after ``search.epochs`` epochs (the best
    epoch's); the test split is never read. Sampler: TPE (Bergstra et al. (2011), *Algorithms for Hyper-Parameter
    Optimization*) with the constant liar for parallel trials; pruner: median stopping rule (Golovin et al. (2017),
    *Google Vizier*) on each epoch's val loss.

    Returns:
        ``{"study", "trial", "val_loss", "params", "parent_run_id", "finished"}``; the first four are also written to
        ``search.output/best_params.yaml``, and ``best_overrides.txt`` holds the best params as ``-S key=value``.

    Raises:
        GenForgeError: the preprocessed splits are missing, or another search is running on the same study.
    """
    import filelock
    import mlflow
    from optuna.trial import TrialState

    from genforge import tracking
    from genforge.data import load_tokens
    from genforge.tokenizers import load_tokenizer

    logger = get_run_logger()
    params = load_params(params_path)
    cfg = params.search
    processed = Path(params.paths.processed)
    _check_splits(processed)
    tokenizer = load_tokenizer(processed / "tokenizer.json")
    train_tokens, val_tokens = load_tokens(processed / "train.npy"), load_tokens(processed / "val.npy")

    lock = filelock.FileLock(f"{Path(cfg.storage).resolve()}.lock")
    Path(cfg.storage).resolve().parent.mkdir(parents=True, exist_ok=True)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise GenForgeError(f"another search is running on {cfg.storage}; wait for it to finish") from None
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
        _recover(study, client, logger)

        finished = (TrialState.COMPLETE, TrialState.PRUNED)
        remaining = cfg.trials - len(study.get_trials(deepcopy=False, states=finished))
        logger.info("study %s: %d finished trials, %d to run, %d at a time", cfg.study,
                    cfg.trials - max(remaining, 0), max(remaining, 0), cfg.parallel)
        running: dict = {}
        with ThreadPoolTaskRunner(max_workers=cfg.parallel) as runner:
            while remaining > 0 or running:
                while remaining > 0 and len(running) < cfg.parallel:
                    trial = study.ask()
                    future = runner.submit(run_trial, parameters={
                        "trial": trial, "number": trial.number, "params": params, "parent_run_id": parent_id,
                        "experiment_id": experiment_id, "train_tokens": train_tokens, "val_tokens": val_tokens,
                        "vocab_size": tokenizer.vocab_size})
                    running[future] = trial
                    remaining -= 1
                done = next(as_completed(list(running)))
                trial = running.pop(done)
                try:
                    state, value = done.result()
                except BaseException:
                    study.tell(trial, state=TrialState.FAIL)  # recorded, not retried (Optuna's own default)
                    raise
                if state == "pruned":
                    study.tell(trial, state=TrialState.PRUNED)
                else:
                    study.tell(trial, value)
                logger.info("trial %d %s: val loss %.4f", trial.number, state, value)

        summary = _write_best(study, Path(cfg.output))
        client.log_batch(parent_id, params=[mlflow.entities.Param(f"best.{k}", str(v))
                                            for k, v in summary["params"].items()])
        client.log_metric(parent_id, "best_val_loss", summary["val_loss"])
        client.set_tag(parent_id, "best.trial", str(summary["trial"]))
        client.set_terminated(parent_id, "FINISHED")
        n = len(study.get_trials(deepcopy=False, states=finished))
        print(f"best trial {summary['trial']}: val loss {summary['val_loss']:.4f} with {summary['params']}; "
              f"apply it with: dvc exp run $(cat {Path(cfg.output) / 'best_overrides.txt'})")
        return {**summary, "parent_run_id": parent_id, "finished": n}
    finally:
        lock.release()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.search", description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        params = load_params(args.params)  # bad params or missing splits: an error before any server starts
        _check_splits(Path(params.paths.processed))
        search(args.params)
    except GenForgeError as e:
        print(f"search: error: {e}", file=sys.stderr)
        return 2
    print(f"search: done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
