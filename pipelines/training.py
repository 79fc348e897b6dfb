"""The training flow: collect -> preprocess -> train -> optimize -> evaluate -> register -> report, one Prefect task
per stage, and the report's summary as a Prefect Markdown artifact.

Each task runs ``dvc repro --single-item <stage>``: the stage code, its inputs and dvc.lock are exactly those of a
plain ``dvc repro``, an up-to-date stage is skipped, and after the flow ``dvc status`` has nothing to do.
Hyperparameters are not flow arguments: params.yaml is the one source of truth.

Run: ``python -m pipelines.training`` (a temporary local Prefect server is started when PREFECT_API_URL is unset).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact

from genforge.config import load_params
from genforge.files import read_json
from genforge.report import summary_markdown

STAGES = ("collect", "preprocess", "train", "optimize", "evaluate", "register", "report")
ARTIFACT_KEY = "genforge-report"


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
    """Run every stage in order, publish the report's summary as the Markdown artifact ``genforge-report``, and
    return what each stage did, the gate result, the registry decision and the test bits per character."""
    done = {"collect": collect("collect")}
    for verb in STAGES[1:]:
        done[verb] = reproduce.with_options(name=verb)(verb)
    status = _dvc("status", "--quiet")
    if status.returncode != 0:
        raise RuntimeError(f"dvc status reports stale stages after the flow:\n{status.stdout}{status.stderr}")
    paths = load_params().paths
    evaluation = read_json(Path(paths.metrics) / "evaluate.json")
    registration = read_json(Path(paths.metrics) / "register.json")
    report_uri = (Path(paths.reports) / "report.html").resolve().as_uri()
    artifact = create_markdown_artifact(markdown=summary_markdown(evaluation, registration, report_uri),
                                        key=ARTIFACT_KEY,
                                        description="GenForge evaluation: gate, registry decision, test accuracy")
    print(f"Prefect artifact {ARTIFACT_KEY}: {artifact}")
    result = {"stages": done, "gate_passed": evaluation["gate"]["passed"], "decision": registration["decision"],
              "bits_per_character": evaluation["bits_per_character"]}
    print(f"flow result: {result}; report: {report_uri}")
    return result


if __name__ == "__main__":
    training()
