"""The training flow: collect -> preprocess -> train -> optimize -> evaluate -> register -> report, one Prefect task
per stage, and the report's summary as a Prefect Markdown artifact.

Each task runs ``dvc repro --single-item <stage>``: the stage code, its inputs and dvc.lock are exactly those of a
plain ``dvc repro``, an up-to-date stage is skipped, and after the flow ``dvc status`` has nothing to do. A run whose
data and params did not change therefore retrains nothing. Hyperparameters are not flow arguments: params.yaml is
the one source of truth.

The train stage runs on the ``genforge-gpu`` work pool (the deployment ``genforge-train-stage/gpu``, see
:mod:`pipelines.deployments`) when that pool has a worker online, and in the flow's own process otherwise. One flow
run at a time holds the project: a second waits up to ``wait_s`` seconds for the first, then fails with a message
that says so; nothing of the first is touched.

Run: ``python -m pipelines.training`` (a temporary local Prefect server is started when PREFECT_API_URL is unset).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from filelock import FileLock, Timeout
from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact

from genforge import GenForgeError
from genforge.core.files import read_json
from genforge.text.config import load_params
from genforge.text.report import summary_markdown
from pipelines.preflight import check_mlflow, check_prefect

STAGES = ("collect", "preprocess", "train", "optimize", "evaluate", "register", "report")
ARTIFACT_KEY = "genforge-report"
CPU_POOL, GPU_POOL = "genforge-cpu", "genforge-gpu"
TRAIN_DEPLOYMENT = "genforge-train-stage/gpu"
LOCK_FILE = Path(".dvc/tmp/genforge-flow.lock")  # in DVC's own scratch folder (git-ignored)


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


@flow(name="genforge-train-stage")
def train_stage():
    """The train stage alone: what the ``genforge-gpu`` work pool runs for the training flow. The final state's
    message is the outcome (``ran`` or ``up to date``), readable by the caller through the API from any machine."""
    from prefect.states import Completed

    outcome = reproduce.with_options(name="train")("train")
    return Completed(message=outcome, data=outcome)


def gpu_pool_online() -> bool:
    """Whether the ``genforge-gpu`` work pool exists on a Prefect server, is not paused and has a worker online.
    Always false on the temporary local server of an unconfigured run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import WorkPoolStatus
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        return False
    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(GPU_POOL)
        except ObjectNotFound:
            return False
    return pool.status == WorkPoolStatus.READY and not pool.is_paused


def _train() -> str:
    if not gpu_pool_online():
        return reproduce.with_options(name="train")("train")
    from prefect.deployments import run_deployment

    get_run_logger().info(f"train runs on the {GPU_POOL} work pool ({TRAIN_DEPLOYMENT})")
    run = run_deployment(TRAIN_DEPLOYMENT, timeout=None)  # waits; a subflow run of this flow run
    if not run.state or not run.state.is_completed():
        raise RuntimeError(f"the train stage on {GPU_POOL} ended {run.state and run.state.name}: see flow run {run.id}")
    return "up to date" if run.state.message == "up to date" else f"ran on {GPU_POOL}"


@flow(name="genforge-training", log_prints=True)
def training(wait_s: float = 0.0) -> dict:
    """Run every stage in order, push the results to the DVC remote (when one is set), publish the report's summary
    as the Markdown artifact ``genforge-report``, and return what each stage did, the gate result, the registry
    decision and the test bits per character.

    Args:
        wait_s: how long to wait for another run of this pipeline in the same project to finish.

    Raises:
        RuntimeError: another run holds the project for longer than ``wait_s``, a stage failed, or DVC still finds
            stale stages afterwards.
        GenForgeError: the MLflow tracking server does not answer (checked before any stage).
    """
    check_mlflow()
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(LOCK_FILE)
    try:
        lock.acquire(timeout=wait_s)
    except Timeout:
        raise RuntimeError(f"another genforge-training run is using this project ({LOCK_FILE.resolve()} is locked); "
                           f"it was left alone. Wait for it, or pass wait_s to queue behind it") from None
    try:
        done = {"collect": collect("collect")}
        for verb in STAGES[1:]:
            done[verb] = _train() if verb == "train" else reproduce.with_options(name=verb)(verb)
        status = _dvc("status", "--quiet")
        if status.returncode != 0:
            raise RuntimeError(f"dvc status reports stale stages after the flow:\n{status.stdout}{status.stderr}")
        configured = _dvc("config", "core.remote")  # exits non-zero when no default remote is set
        remote = configured.stdout.strip() if configured.returncode == 0 else ""
        if remote:
            push = _dvc("push")
            if push.returncode != 0:
                raise RuntimeError(f"dvc push to the remote {remote!r} failed:\n{push.stdout}{push.stderr}")
        paths = load_params().paths
        evaluation = read_json(Path(paths.metrics) / "evaluate.json")
        registration = read_json(Path(paths.metrics) / "register.json")
        report_uri = (Path(paths.reports) / "report.html").resolve().as_uri()
        unchanged = all(v == "up to date" for v in done.values())
        headline = ("Nothing changed: every stage was up to date, so nothing was retrained." if unchanged else
                    "Stages: " + ", ".join(f"{k} {v}" for k, v in done.items()) + ".")
        artifact = create_markdown_artifact(
            markdown=headline + "\n\n" + summary_markdown(evaluation, registration, report_uri), key=ARTIFACT_KEY,
            description="GenForge evaluation: gate, registry decision, test accuracy")
        print(headline)
        print(f"Prefect artifact {ARTIFACT_KEY}: {artifact}")
        result = {"stages": done, "retrained": done["train"] != "up to date",
                  "gate_passed": evaluation["gate"]["passed"], "decision": registration["decision"],
                  "bits_per_character": evaluation["bits_per_character"],
                  "dvc_remote": remote or None}
        print(f"flow result: {result}; report: {report_uri}")
        return result
    finally:
        lock.release()


def main() -> int:
    """Check the configured servers, then run the flow; a server that does not answer exits 2 before any stage."""
    try:
        check_mlflow()
        check_prefect()
    except GenForgeError as e:
        print(f"genforge-training: error: {e}", file=sys.stderr)
        return 2
    training()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
