"""register: log the optimized model to its MLflow run, register a version, set `challenger` / `champion`."""

from __future__ import annotations

from pathlib import Path

from genforge import tracking
from genforge.config import Params
from genforge.files import read_json, write_json


def register(params: Params) -> dict:
    """Register ``paths.optimized`` as a new version of ``register.model_name``; every new version becomes
    ``challenger``, and ``champion`` when its test ``register.metric`` is lower than the champion's (or there is
    none). Writes ``paths.metrics/register.json``."""
    cfg = params.register
    folder = Path(params.paths.optimized)
    metrics = read_json(Path(params.paths.metrics) / "evaluate.json")
    run_id = read_json(folder / tracking.RUN_FILE)["run_id"]
    version = tracking.log_generator(run_id, folder, cfg.model_name)
    decision = tracking.promote(cfg.model_name, version, cfg.metric, float(metrics[cfg.metric]))
    record = {"model_name": cfg.model_name, "run_id": run_id, "metric": cfg.metric,
              "value": metrics[cfg.metric], **decision}
    tracking.set_tags(run_id, {"register.version": version, "register.aliases": ",".join(decision["aliases"])})
    write_json(Path(params.paths.metrics) / "register.json", record)
    return {"model_uri": f"models:/{cfg.model_name}/{version}", "aliases": "+".join(decision["aliases"])}


def main() -> int:
    from tasks import run_stage

    return run_stage("register", register)


if __name__ == "__main__":
    raise SystemExit(main())
