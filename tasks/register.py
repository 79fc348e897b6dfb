"""register: log the optimized model to its MLflow run, register a version, and give it the aliases the evaluation
gate and the champion comparison allow."""

from __future__ import annotations

from pathlib import Path

from genforge import GenForgeError
from genforge.core import tracking
from genforge.core.files import read_json, write_json
from genforge.text.config import Params
from genforge.text.pyfunc import log_generator


def register(params: Params) -> dict:
    """Register ``paths.optimized`` as a new version of ``register.model_name`` and set its aliases with
    :func:`genforge.core.tracking.promote`: none when the evaluate stage's gate failed; ``challenger`` when it passed;
    and
    ``champion`` too when its test ``register.metric`` is lower than the champion's by more than ``register.margin``
    (or there is no champion). Writes ``paths.metrics/register.json`` (the decision and its reasons, and the previous
    champion's test metrics) and tags the decision on the MLflow run."""
    cfg = params.register
    folder = Path(params.paths.optimized)
    metrics = read_json(Path(params.paths.metrics) / "evaluate.json")
    run_id = read_json(folder / tracking.RUN_FILE)["run_id"]
    version = log_generator(run_id, folder, cfg.model_name)
    gate = metrics.get("gate")
    if not isinstance(gate, dict) or "passed" not in gate:
        raise GenForgeError(f"{Path(params.paths.metrics) / 'evaluate.json'}: no gate result; re-run the evaluate "
                            "stage (`dvc repro evaluate`)")
    decision = tracking.promote(cfg.model_name, version, cfg.metric, float(metrics[cfg.metric]),
                                passed=bool(gate["passed"]), margin=cfg.margin, reasons=gate.get("reasons", []))
    record = {"model_name": cfg.model_name, "run_id": run_id, "metric": cfg.metric,
              "value": metrics[cfg.metric], "margin": cfg.margin, "gate_passed": bool(gate["passed"]), **decision}
    tracking.set_tags(run_id, {"register.version": version, "register.aliases": ",".join(decision["aliases"]),
                               "register.decision": decision["decision"]})
    write_json(Path(params.paths.metrics) / "register.json", record)
    return {"model_uri": f"models:/{cfg.model_name}/{version}", "aliases": "+".join(decision["aliases"]) or "none",
            "decision": decision["decision"]}


def main() -> int:
    from tasks import run_stage

    return run_stage("register", register)


if __name__ == "__main__":
    raise SystemExit(main())
