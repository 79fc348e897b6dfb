"""Deployments of the training flow and the work pools they run on.

- ``genforge-training/scheduled``: the whole pipeline on the ``genforge-cpu`` process work pool, on a cron schedule,
  one run at a time (later scheduled runs wait for the running one).
- ``genforge-train-stage/gpu``: the train stage alone on the ``genforge-gpu`` work pool, whose concurrency limit is one
  flow run per GPU; the training flow sends its train stage there when that pool has a worker online.

The flow code is pulled from this project folder (``flow.from_source``), so workers on this machine (or any machine
that mounts the folder at the same path) run the project as it is on disk. For Kubernetes work pools see the README.

Run: ``python -m pipelines.deployments --cron "0 3 * * *"`` with PREFECT_API_URL pointing at a Prefect server.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from genforge import GenForgeError
from pipelines.preflight import check_prefect
from pipelines.training import CPU_POOL, GPU_POOL

ROOT = Path(__file__).resolve().parents[1]


def ensure_pool(name: str, concurrency_limit: int | None) -> None:
    """Create the process work pool ``name`` unless it exists, and set its concurrency limit."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            client.update_work_pool(name, WorkPoolUpdate(concurrency_limit=concurrency_limit))
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(
                name=name, type="process", concurrency_limit=concurrency_limit,
                base_job_template=ProcessWorker.get_default_base_job_template()))


def deploy(cron: str | None, root: Path = ROOT) -> dict[str, str]:
    """Create or update both work pools and both deployments; return ``{deployment name: id}``.

    Raises:
        GenForgeError: no Prefect server answers at the configured API URL.
    """
    from prefect import flow

    check_prefect()
    ensure_pool(CPU_POOL, None)
    ensure_pool(GPU_POOL, 1)  # one flow run per GPU worker
    ids = {}
    pipeline = flow.from_source(source=str(root), entrypoint="pipelines/training.py:training")
    ids["genforge-training/scheduled"] = str(pipeline.deploy(
        name="scheduled", work_pool_name=CPU_POOL, cron=cron, concurrency_limit=1, print_next_steps=False,
        description="The GenForge pipeline; DVC skips every stage whose inputs did not change."))
    stage = flow.from_source(source=str(root), entrypoint="pipelines/training.py:train_stage")
    ids["genforge-train-stage/gpu"] = str(stage.deploy(
        name="gpu", work_pool_name=GPU_POOL, concurrency_limit=1, print_next_steps=False,
        description="The train stage alone, for workers with a GPU."))
    return ids


def main(cron: str = typer.Option("0 3 * * *", help="cron schedule of the pipeline; '' for none")) -> None:
    """Register the GenForge work pools and deployments on the configured Prefect server."""
    try:
        ids = deploy(cron or None)
    except GenForgeError as e:
        print(f"deployments: error: {e}", file=sys.stderr)
        raise typer.Exit(2) from None
    for name, deployment_id in ids.items():
        print(f"{name}: {deployment_id}")


if __name__ == "__main__":
    typer.run(main)
