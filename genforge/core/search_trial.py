"""One trial of a hyperparameter search, in a process of its own (started by
:func:`genforge.core.search.run_trial_process`):

    python -m genforge.core.search_trial '<request JSON>'

It trains the generator's train section with the trial's values and seed through its modality's ``fit_trial``,
logs each epoch's val loss to its own MLflow run (a child of the search's run) and to the Optuna trial for the
pruner, and writes ``{"state", "value"}`` to the request's ``result`` file.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from genforge.core.config import Job, job, load_params
from genforge.core.modality import get_modality
from genforge.core.search import TRIAL_TAG, storage_url, trial_train_config


def run(gen: Job, request: dict) -> dict:
    """Train trial ``request["number"]`` (study trial id ``request["trial_id"]``, or ``None`` to train it again
    without reporting to the study) of ``gen``'s search with ``request["values"]`` and seed ``request["seed"]``.

    Returns:
        ``{"state": "complete" | "pruned" | "failed", "value": float}``: the best epoch's val loss (nats/token) of a
        complete trial, the last one of a pruned trial, NaN for a trial whose val loss was not finite.
    """
    import optuna

    from genforge.core import tracking

    cfg = gen.search
    train = trial_train_config(gen.train, request["values"], cfg)
    trial = None  # no trial id: a trial trained again outside its study (nothing reported to the pruner)
    if request.get("trial_id") is not None:
        trial = optuna.trial.Trial(optuna.load_study(study_name=cfg.study, storage=storage_url(cfg)),
                                   request["trial_id"])
    run_id = tracking.start_training_run(
        cfg.experiment, {"train": train.model_dump()}, run_name=f"trial-{request['number']}",
        tags={"mlflow.parentRunId": request["parent_run_id"], TRIAL_TAG: str(request["number"]),
              "optuna.study": cfg.study, "seed": str(request["seed"])})
    pruned = False

    def on_epoch(epoch: int, val_loss: float) -> bool:
        nonlocal pruned
        tracking.log_metrics(run_id, {"val_loss": val_loss}, step=epoch)
        if trial is not None:
            trial.report(val_loss, epoch)
            pruned = trial.should_prune()
        return pruned

    try:
        losses = get_modality(gen.generator.modality).fit_trial(gen, train, request["seed"], on_epoch)
    except BaseException:
        tracking.end_run(run_id, "FAILED")
        raise
    state, value = ("pruned", losses[-1]) if pruned else ("complete", min(losses))
    if not all(math.isfinite(v) for v in losses):
        state, value = "failed", float("nan")  # a diverged trial: recorded as failed, never the best
    tracking.set_tags(run_id, {"optuna.state": state})
    tracking.log_metrics(run_id, {"best_val_loss" if state == "complete" else "last_val_loss": value})
    tracking.end_run(run_id, "FINISHED")
    return {"state": state, "value": value}


def main(argv: list[str] | None = None) -> int:
    """Read the request (JSON: ``params_path``, ``generator``, ``trial_id``, ``number``, ``values``, ``seed``,
    ``parent_run_id``, ``result``), run the trial and write its outcome to ``result``."""
    request = json.loads((sys.argv[1:] if argv is None else argv)[0])
    gen = job(load_params(request["params_path"]), request["generator"])
    outcome = run(gen, request)
    Path(request["result"]).write_text(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
