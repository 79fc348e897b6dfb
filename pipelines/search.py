"""The hyperparameter search flow: an Optuna study over the ``search.space`` of one generator (the study logic:
:mod:`genforge.core.search`), trials trained ``search.parallel`` at a time as Prefect tasks, each in a process of its
own with its own seed and a nested MLflow run under one parent run; the study is kept in SQLite so that a killed
search resumes where it stopped. The best trial is written as ``dvc exp run`` arguments; params.yaml is never edited.

    python -m pipelines.search --generator NAME [--params params.yaml]   (or: make search GENERATOR=NAME)
    dvc exp run $(cat search/best_overrides.txt)            (train the pipeline with the best trial's params)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from genforge import GenForgeError
from genforge.core import search as study_lib
from genforge.core.config import Job, job, load_params
from genforge.core.modality import get_modality


@task(cache_policy=NO_CACHE, task_run_name="trial-{number}")
def run_trial(request: dict, number: int) -> tuple[str, float]:
    """Train trial ``number`` in its own process (:func:`genforge.core.search.run_trial_process`)."""
    return study_lib.run_trial_process(request)


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


@flow(name="genforge-search", log_prints=True, flow_run_name="genforge-search: {generator}")
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
    from genforge.core import tracking

    logger = get_run_logger()
    params = searched(params_path, generator)
    cfg = params.search
    get_modality(params.generator.modality).check_search_inputs(params)
    lock = study_lib.hold_lock(cfg)
    try:
        study = study_lib.open_study(cfg)
        if "mlflow_parent_run_id" not in study.user_attrs:
            parent_id = tracking.start_training_run(cfg.experiment, {}, run_name=f"search-{cfg.study}",
                                                    tags={"optuna.study": cfg.study, "stage": "search",
                                                          "generator": params.name})
            study.set_user_attr("mlflow_parent_run_id", parent_id)
        parent_id = study.user_attrs["mlflow_parent_run_id"]
        tracking.reopen_run(parent_id)
        try:
            summary = _run_study(study, params, params_path, parent_id, logger)
        except BaseException:
            tracking.end_run(parent_id, "FAILED")
            raise
        tracking.log_params(parent_id, {f"best.{k}": v for k, v in summary["params"].items()})
        tracking.log_metrics(parent_id, {"best_val_loss": summary["val_loss"]})
        tracking.set_tags(parent_id, {"best.trial": summary["trial"]})
        tracking.end_run(parent_id, "FINISHED")
        print(f"best trial {summary['trial']}: val loss {summary['val_loss']:.4f} with {summary['params']}; "
              f"apply it with: dvc exp run $(cat {Path(cfg.output) / 'best_overrides.txt'})")
        return {**summary, "parent_run_id": parent_id, "finished": study_lib.counted(study)}
    finally:
        lock.release()


def _run_study(study, params: Job, params_path: str, parent_id: str, logger) -> dict:
    """Recover interrupted trials, run trials ``search.parallel`` at a time until ``search.trials`` count (trial
    ``n`` trains with seed ``params.seed + n``), and write the best trial's files."""
    cfg = params.search
    dists = study_lib.distributions(cfg, params.train)
    study_lib.check_space(study, dists)
    for number in study_lib.recover(study, cfg.experiment):
        logger.info("trial %d was interrupted: marked failed and queued again with the same params", number)
    remaining = cfg.trials - study_lib.counted(study)
    logger.info("study %s: %d trials done, %d to run, %d at a time", cfg.study, cfg.trials - max(remaining, 0),
                max(remaining, 0), cfg.parallel)
    running: dict = {}
    with ThreadPoolTaskRunner(max_workers=cfg.parallel) as runner:
        while remaining > 0 or running:
            while remaining > 0 and len(running) < cfg.parallel:
                trial = study.ask()
                request = {"params_path": str(Path(params_path).resolve()), "generator": params.name,
                           "trial_id": trial._trial_id, "number": trial.number,
                           "values": study_lib.suggest(trial, dists), "seed": params.seed + trial.number,
                           "parent_run_id": parent_id}
                running[runner.submit(run_trial, parameters={"request": request, "number": trial.number})] = trial
                remaining -= 1
            done = next(as_completed(list(running)))
            trial = running.pop(done)
            try:
                state, value = done.result()
            except BaseException:
                study_lib.tell(study, trial, "failed", float("nan"))  # recorded, not retried (Optuna's default)
                raise
            study_lib.tell(study, trial, state, value)
            logger.info("trial %d %s: val loss %.4f", trial.number, state, value)
    return study_lib.write_best(study, Path(cfg.output), f"generators.{params.name}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.search", description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("--generator", required=True, help="the generator of params.yaml whose search runs")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        params = searched(args.params, args.generator)  # bad params, missing splits, a busy study: errors before
        get_modality(params.generator.modality).check_search_inputs(params)  # a server starts
        study_lib.hold_lock(params.search).release()
        search(args.generator, args.params)
    except GenForgeError as e:
        print(f"search: error: {e}", file=sys.stderr)
        return 2
    print(f"search: done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
