"""register: log a generator's optimized model to its MLflow run, register a version, and give it the aliases the
evaluation gate and the champion comparison allow (``python -m tasks.register <generator>``)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from genforge import GenForgeError
from genforge.core import tracking
from genforge.core.config import ParamsBase, job
from genforge.core.files import md5_file, read_json, write_json
from genforge.core.modality import get_modality

INPUTS_TAG = "genforge.inputs"  # model version tag: the digest of the files register read (see inputs_digest)


def inputs_digest(folder: Path, evaluation: Path) -> str:
    """md5 over the relative path and md5 of every file of the model folder, then the evaluation file: what DVC
    hashes as this stage's inputs. The same trained and evaluated model gives the same digest."""
    lines = [f"{p.relative_to(folder).as_posix()}\t{md5_file(p)}" for p in sorted(folder.rglob("*")) if p.is_file()]
    lines.append(f"evaluate.json\t{md5_file(evaluation)}")
    return hashlib.md5("\n".join(lines).encode()).hexdigest()


def _checked(evaluation: dict, metric: str, source: Path) -> tuple[dict, float]:
    """The gate record and the deciding metric of evaluate.json, checked before anything is registered."""
    gate = evaluation.get("gate")
    if not (isinstance(gate, dict) and isinstance(gate.get("passed"), bool)
            and isinstance(gate.get("reasons", []), list)):
        raise GenForgeError(f"{source}: no valid gate record ('gate' with a true/false 'passed' and a list of "
                            "'reasons'); re-run the evaluate stage")
    flat = tracking.flatten(evaluation)
    value = flat.get(metric)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise GenForgeError(f"{source}: register.metric {metric!r} is not a number there (got {value!r}); name a "
                            "numeric key of the flattened evaluation, such as bits_per_character")
    return gate, float(value)


def register(params: ParamsBase, name: str) -> dict:
    """Register ``paths.optimized`` of generator ``name`` as a new version of ``genforge-<name>`` and set its
    aliases with :func:`genforge.core.tracking.promote` (none when the gate failed; ``challenger`` when it passed;
    ``champion`` too when its ``register.metric`` beats the champion's by more than ``register.margin`` in
    ``register.direction``). Writes ``paths.metrics/register.json`` and tags the decision on the MLflow run.

    Run again for the same model and evaluation (the same :func:`inputs_digest`), it registers no second version: it
    reports the version that has them.

    Raises:
        GenForgeError: evaluate.json has no valid gate record or no numeric ``register.metric`` (checked before a
            version is created), or the registry fails.
    """
    gen = job(params, name)
    cfg, folder = gen.register, Path(gen.paths.optimized)
    source = Path(gen.paths.metrics) / "evaluate.json"
    gate, value = _checked(read_json(source), cfg.metric, source)
    run_id = read_json(folder / tracking.RUN_FILE)["run_id"]
    digest = inputs_digest(folder, source)
    out = Path(gen.paths.metrics) / "register.json"
    existing = tracking.find_version(gen.experiment, INPUTS_TAG, digest)
    if existing is not None and out.exists() and read_json(out).get("version") == existing:
        record = read_json(out)
    else:
        version = existing or get_modality(gen.modality).log_model(gen, run_id, gen.experiment)
        tracking.set_version_tags(gen.experiment, version, {INPUTS_TAG: digest})
        decision = tracking.promote(gen.experiment, version, cfg.metric, value, passed=gate["passed"],
                                    direction=cfg.direction, margin=cfg.margin, reasons=gate.get("reasons", []))
        record = {"model_name": gen.experiment, "run_id": run_id, "metric": cfg.metric, "value": value,
                  "direction": cfg.direction, "margin": cfg.margin, "gate_passed": gate["passed"], **decision}
        tracking.set_tags(run_id, {"register.version": version, "register.aliases": ",".join(decision["aliases"]),
                                   "register.decision": decision["decision"]})
        write_json(out, record)
    return {"model_uri": f"models:/{gen.experiment}/{record['version']}",
            "aliases": "+".join(record["aliases"]) or "none", "decision": record["decision"],
            "new_version": existing is None}


def main() -> int:
    from tasks import stage_main

    return stage_main("register", register)


if __name__ == "__main__":
    raise SystemExit(main())
