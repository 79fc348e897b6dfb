"""The training flow: collect once, then one branch per generator of params.yaml (preprocess -> train -> optimize ->
evaluate -> register), the branches concurrent, then the report over all generators; the report's index as a
Prefect Markdown artifact.

Each task runs ``dvc repro --single-item <stage>@<generator>``: the stage code, its inputs and dvc.lock are exactly
those of a plain ``dvc repro``, an up-to-date stage is skipped, and after the flow ``dvc status`` has nothing to do.
A run whose data and params did not change therefore retrains nothing. Hyperparameters are not flow arguments:
params.yaml is the one source of truth; ``only`` chooses which generators run.

A failing branch fails its generator and, at the end, the flow (the summary names which), while the other branches
finish and are registered. Each train stage runs on the ``genforge-gpu`` work pool (the deployment
``genforge-train-stage/gpu``, see :mod:`pipelines.deployments`) when that pool has a worker online, and in the flow's
own process otherwise. One flow run at a time holds the project: a second waits up to ``wait_s`` seconds for the
first, then fails with a message that says so; nothing of the first is touched.

Run: ``python -m pipelines.training [--only NAME ...]`` (a temporary local Prefect server is started when
PREFECT_API_URL is unset).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from filelock import FileLock, Timeout
from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact

from genforge import GenForgeError
from genforge.core import tracking
from genforge.core.config import generator_paths, job, load_params
from genforge.core.files import read_json
from genforge.core.report import index_markdown, index_row
from pipelines.preflight import check_mlflow, check_prefect
from tasks.report import INDEX

BRANCH = ("preprocess", "train", "optimize", "evaluate", "register")  # the stages of one generator, in order
ARTIFACT_KEY = "genforge-report"
CPU_POOL, GPU_POOL = "genforge-cpu", "genforge-gpu"
TRAIN_DEPLOYMENT = "genforge-train-stage/gpu"
LOCK_FILE = Path(".dvc/tmp/genforge-flow.lock")  # in DVC's own scratch folder (git-ignored)
DVC_LOCK_TRIES = 20  # concurrent branches can meet on DVC's repo lock for a moment: wait and retry


class StageInputError(RuntimeError):
    """The stage rejected its input (its own `<verb>: error:` message): retrying cannot help."""


def _worth_retrying(task, task_run, state) -> bool:
    return not isinstance(state.data, StageInputError)


def _dvc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["dvc", *args], capture_output=True, text=True, check=False)


DVC_HINTS = "To track the changes with git"  # DVC's closing advice (git add dvc.lock, autostage, dvc push)


def _repro(stage: str, logger) -> tuple[int, list[str]]:
    """Run ``dvc repro`` of one stage, logging its output line by line: blank lines and DVC's closing hints at DEBUG
    (the flow's summary says what to commit and push once), the rest at INFO. TensorFlow's C++ start-up lines are off
    unless ``TF_CPP_MIN_LOG_LEVEL`` says otherwise."""
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", **os.environ, "GENFORGE_FLOW_RUN_ID": str(runtime.flow_run.id or ""),
           "PYTHONUNBUFFERED": "1"}
    for attempt in range(DVC_LOCK_TRIES):
        proc = subprocess.Popen(["dvc", "repro", "--single-item", stage], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=env)
        lines, hints = [], False
        for line in proc.stdout:
            lines.append(line.rstrip())
            hints = hints or line.startswith(DVC_HINTS)
            (logger.debug if hints or not line.strip() else logger.info)(line.rstrip())
        if proc.wait() == 0 or not any("Unable to acquire lock" in line for line in lines):
            return proc.returncode, lines
        time.sleep(1 + attempt % 5)  # another branch holds DVC's lock while it checks or records a stage
    return proc.returncode, lines


@task(name="stage", task_run_name="{stage}")
def reproduce(stage: str) -> str:
    """Reproduce one DVC stage (``train@<generator>``, say); return ``"ran"`` or ``"up to date"``. Fails with DVC's
    own message."""
    code, lines = _repro(stage, get_run_logger())
    if code != 0:
        verb = stage.split("@")[0]
        error = StageInputError if any(line.startswith(f"{verb}: error:") for line in lines) else RuntimeError
        raise error(f"stage {stage} failed (dvc repro exit {code}):\n" + "\n".join(lines[-20:]))
    return "up to date" if any("didn't change, skipping" in line for line in lines) else "ran"


# collect reads the network: the only stage worth retrying, and only for errors other than bad input
collect = reproduce.with_options(name="collect", retries=2, retry_delay_seconds=10,
                                 retry_condition_fn=_worth_retrying)


@flow(name="genforge-train-stage", flow_run_name="train@{generator}")
def train_stage(generator: str):
    """The train stage of one generator alone: what the ``genforge-gpu`` work pool runs for the training flow. The
    final state's message is the outcome (``ran`` or ``up to date``), readable by the caller through the API from
    any machine."""
    from prefect.states import Completed

    outcome = reproduce.with_options(name="train")(f"train@{generator}")
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


@task(name="train", task_run_name="train@{generator}")
def train(generator: str) -> str:
    """The train stage of ``generator``: on the ``genforge-gpu`` pool when it has a worker online, else here."""
    if not gpu_pool_online():
        code, lines = _repro(f"train@{generator}", get_run_logger())
        if code != 0:
            raise RuntimeError(f"stage train@{generator} failed (dvc repro exit {code}):\n" + "\n".join(lines[-20:]))
        return "up to date" if any("didn't change, skipping" in line for line in lines) else "ran"
    from prefect.deployments import run_deployment

    get_run_logger().info(f"train@{generator} runs on the {GPU_POOL} work pool ({TRAIN_DEPLOYMENT})")
    run = run_deployment(TRAIN_DEPLOYMENT, parameters={"generator": generator}, timeout=None)
    if not run.state or not run.state.is_completed():
        raise RuntimeError(f"train@{generator} on {GPU_POOL} ended {run.state and run.state.name}: see flow run "
                           f"{run.id}")
    return "up to date" if run.state.message == "up to date" else f"ran on {GPU_POOL}"


def _branches(names: list[str], after) -> dict[str, dict]:
    """Submit every generator's stages, each after the one before it; the branches run side by side."""
    futures: dict[str, dict] = {}
    for name in names:
        chain, previous = {}, after
        for verb in BRANCH:
            runner = train if verb == "train" else reproduce.with_options(name=verb)
            previous = (runner.submit(name, wait_for=[previous]) if verb == "train"
                        else runner.submit(f"{verb}@{name}", wait_for=[previous]))
            chain[verb] = previous
        futures[name] = chain
    return futures


def _outcomes(futures: dict[str, dict]) -> tuple[dict[str, dict], dict[str, str]]:
    """What each stage of each branch did, and the first failure of each failed branch."""
    done, failed = {}, {}
    for name, chain in futures.items():
        done[name] = {}
        for verb, future in chain.items():
            future.wait()
            state = future.state
            if state.is_completed():
                done[name][verb] = future.result()
            else:
                done[name][verb] = state.name.lower()
                if name not in failed:
                    failed[name] = f"{verb}: {state.message or state.name}"
    return done, failed


def _check_status(stages: list[str]) -> None:
    status = _dvc("status", "--quiet", *stages)
    if status.returncode != 0:
        raise RuntimeError(f"dvc status reports stale stages after the flow:\n{status.stdout}{status.stderr}")


def _push() -> str:
    configured = _dvc("config", "core.remote")  # exits non-zero when no default remote is set
    remote = configured.stdout.strip() if configured.returncode == 0 else ""
    if remote:
        push = _dvc("push")
        if push.returncode != 0:
            raise RuntimeError(f"dvc push to the remote {remote!r} failed:\n{push.stdout}{push.stderr}")
    return remote


def _run_name() -> str:
    """``genforge-training: <the generators it trains>`` (every generator of params.yaml unless ``only``)."""
    only = runtime.flow_run.parameters.get("only")
    if not only:
        try:
            only = list(load_params("params.yaml").generators)
        except (GenForgeError, OSError):  # the flow itself reports a bad params.yaml
            return "genforge-training: every generator"
    return "genforge-training: " + ", ".join(only)


@flow(name="genforge-training", log_prints=True, flow_run_name=_run_name)
def training(wait_s: float = 0.0, only: list[str] | None = None) -> dict:
    """Run collect, one branch of stages per generator (concurrently) and the report; push the results to the DVC
    remote (when one is set); publish the report's index as the Markdown artifact ``genforge-report``; return what
    each stage did and each generator's gate result and registry decision.

    Args:
        wait_s: how long to wait for another run of this pipeline in the same project to finish.
        only: the generators to run (default: every generator of params.yaml).

    Raises:
        RuntimeError: a stage failed (after every other branch finished; the message names the failed
            generators), or DVC still finds stale stages afterwards.
        GenForgeError: another run holds the project for longer than ``wait_s``, the MLflow tracking server does not
            answer (checked before any stage), or ``only`` names a generator params.yaml does not have.
    """
    check_mlflow()
    params = load_params()
    names = selected(params, only)
    lock = hold_project(wait_s)
    try:
        collected = collect("collect")
        for name in names:  # create the tracking store and each experiment once, before the branches share them:
            tracking.experiment_id(job(params, name).experiment)  # two first writers of a new SQLite store race
        done, failed = _outcomes(_branches(names, collected))
        if failed:
            raise RuntimeError("generators failed: " + "; ".join(f"{n} ({why})" for n, why in failed.items())
                               + f". The others finished: {', '.join(n for n in names if n not in failed) or 'none'}")
        done["report"] = reproduce.with_options(name="report")("report")
        _check_status(["collect", *(f"{v}@{n}" for n in names for v in BRANCH), "report"])
        remote = _push()
        return _summary(params, names, done, remote)
    finally:
        lock.release()


def selected(params, only: list[str] | None) -> list[str]:
    """The generators to run: ``only``, or every generator of params.yaml.

    Raises:
        GenForgeError: ``only`` names a generator params.yaml does not have.
    """
    names = list(only or params.generators)
    unknown = [n for n in names if n not in params.generators]
    if unknown:
        raise GenForgeError(f"no generator {unknown} in params.yaml; generators: {', '.join(params.generators)}")
    return names


def hold_project(wait_s: float) -> FileLock:
    """Take the project's lock (one run of this pipeline per project at a time), waiting up to ``wait_s``; the caller
    releases it.

    Raises:
        GenForgeError: another run holds it for longer than ``wait_s``.
    """
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(LOCK_FILE)
    try:
        lock.acquire(timeout=wait_s)
    except Timeout:
        raise GenForgeError(f"another genforge-training run is using this project ({LOCK_FILE.resolve()} is "
                            "locked); it was left alone. Wait for it, or pass wait_s to queue behind it") from None
    return lock


def _mlflow_links(records: dict[str, dict]) -> dict[str, dict[str, str]]:
    """Each generator's MLflow run and registered version pages from its register.json record
    (:func:`genforge.core.tracking.run_links`)."""
    return {n: tracking.run_links(r["run_id"], r["model_name"], r.get("version"))
            for n, r in records.items() if r.get("run_id")}


def _summary(params, names: list[str], done: dict, remote: str) -> dict:
    """Publish the index of the report as the Markdown artifact; return the flow's result record."""
    reports = Path(params.paths.reports)
    records = {n: read_json(generator_paths(params.paths, n).metrics / "register.json") for n in names}
    rows = [index_row(n, params.generators[n].modality, records[n], f"{n}.html") for n in names]
    index_uri = (reports / INDEX).resolve().as_uri()
    unchanged = all(v == "up to date" for n in names for v in done[n].values())
    headline = ("Nothing changed: every stage was up to date, so nothing was retrained." if unchanged else
                "Stages: " + "; ".join(f"{n}: " + ", ".join(f"{k} {v}" for k, v in done[n].items()) for n in names)
                + ".")
    table = index_markdown(rows, str((reports / INDEX).resolve()), _mlflow_links(records))
    artifact = create_markdown_artifact(markdown=headline + "\n\n" + table,
                                        key=ARTIFACT_KEY, description="GenForge: every generator's gate and decision")
    print(headline)
    print(f"Prefect artifact {ARTIFACT_KEY}: {artifact}")
    result = {"stages": done, "retrained": [n for n in names if done[n]["train"] != "up to date"],
              "generators": {r["generator"]: {"gate_passed": r["gate"] == "passed", "decision": r["decision"],
                                              r["metric"]: r["value"]} for r in rows},
              "dvc_remote": remote or None}
    print(f"flow result: {result}; report: {index_uri}")
    if not unchanged:
        print("dvc.lock and the metrics changed: commit them (git add dvc.lock metrics reports)"
              + ("" if remote else " and `dvc push` the data and models once a DVC remote is set"))
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m pipelines.training [--only NAME ...]``: check params.yaml, the project lock and the configured
    servers, then run the flow. A refusal (bad params, another run using the project, a server that does not answer)
    prints one line and exits 2 before any flow run; a failed generator exits 1 after the others finished."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pipelines.training", description=main.__doc__)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these generators only (default: all)")
    args = parser.parse_args(argv)
    try:  # expected refusals (bad params, a busy project, a server down): one line, before any flow run starts
        selected(load_params(), args.only)
        hold_project(0).release()
        check_mlflow()
        check_prefect()
    except GenForgeError as e:
        print(f"genforge-training: error: {e}", file=sys.stderr)
        return 2
    try:
        training(only=args.only)
    except (RuntimeError, GenForgeError) as e:
        print(f"genforge-training: failed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
