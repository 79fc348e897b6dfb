"""The training flow: collect -> preprocess -> train -> optimize -> evaluate -> register, one Prefect task per stage.

Each task runs ``dvc repro --single-item <stage>``: the stage code, its inputs and dvc.lock are exactly those of a
plain ``dvc repro``, an up-to-date stage is skipped, and after the flow ``dvc status`` has nothing to do.
Hyperparameters are not flow arguments: params.yaml is the one source of truth.

Run: ``python -m pipelines.training`` (a temporary local Prefect server is started when PREFECT_API_URL is unset).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from prefect import flow, get_run_logger, runtime, task

STAGES = ("collect", "preprocess", "train", "optimize", "evaluate", "register")


class StageInputError(RuntimeError):
    """The stage rejected its input (its own `<verb>: error:` message): retrying cannot help."""


def _worth_retrying(task, task_run, state) -> bool:
    return not isinstance(state.data, StageInputError)


def _dvc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["dvc", *args], capture_output=True, text=True, check=False)


@task(name="stage", task_run_name="{verb}")
def reproduce(verb: str) -> str:
    """Reproduce one DVC stage; return ``"ran"`` or ``"up to date"``. Fails with DVC's own message."""
    logger = get_run_logger()
    env = {**os.environ, "GENFORGE_FLOW_RUN_ID": str(runtime.flow_run.id or ""), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(["dvc", "repro", "--single-item", verb], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        logger.info(line.rstrip())
    if proc.wait() != 0:
        error = StageInputError if any(line.startswith(f"{verb}: error:") for line in lines) else RuntimeError
        raise error(f"stage {verb} failed (dvc repro exit {proc.returncode}):\n" + "\n".join(lines[-20:]))
    return "up to date" if any("didn't change, skipping" in line for line in lines) else "ran"


# collect reads the network: the only stage worth retrying, and only for errors other than bad input
collect = reproduce.with_options(name="collect", retries=2, retry_delay_seconds=10,
                                 retry_condition_fn=_worth_retrying)


@flow(name="genforge-training", log_prints=True)
def training() -> dict:
    """Run every stage in order and return what each did plus the headline test metrics."""
    done = {"collect": collect("collect")}
    for verb in STAGES[1:]:
        done[verb] = reproduce.with_options(name=verb)(verb)
    status = _dvc("status", "--quiet")
    if status.returncode != 0:
        raise RuntimeError(f"dvc status reports stale stages after the flow:\n{status.stdout}{status.stderr}")
    metrics = json.loads(Path("metrics/evaluate.json").read_text()) if Path("metrics/evaluate.json").exists() else {}
    print(f"stages: {done}; test metrics: {metrics}")
    return {"stages": done, "test": metrics}


if __name__ == "__main__":
    training()
