"""The optimize stage's record of the variants it measured (dense, pruned, quantized, ...): optimize.json, the
trade-off table and plot, and their copies in the model's MLflow run. Shared by the modalities whose optimize stage
measures one test score and the batch-1 latency per variant."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from genforge.core import tracking
from genforge.core.files import atomic_path, read_json, write_json
from genforge.core.plots import tradeoff_plot


def write_variants(job, result: dict, rows: list[dict], columns: Sequence[str], *, score: str, score_label: str,
                   latency_label: str) -> None:
    """Write ``paths.metrics/{optimize.json (result), optimize_tradeoff.csv (rows, columns), optimize_tradeoff.png
    (score against latency: :func:`genforge.core.plots.tradeoff_plot`)}`` and log the figures, the table, the plot and
    the tag ``optimize.method`` to the run of ``paths.trained``. ``result["prune"]["sparsity"]``, where present,
    is logged as ``optimize/prune/sparsity/<layer>``."""
    metrics_dir = Path(job.paths.metrics)
    write_json(metrics_dir / "optimize.json", result)
    with atomic_path(metrics_dir / "optimize_tradeoff.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tradeoff_plot(rows, score, score_label, latency_label, metrics_dir / "optimize_tradeoff.png")
    run_id = read_json(Path(job.paths.trained) / tracking.RUN_FILE)["run_id"]
    numbers = {f"{r['variant']}/{k}": v for r in rows for k, v in r.items() if isinstance(v, int | float)}
    numbers.update({f"prune/sparsity/{k}": v for k, v in result.get("prune", {}).get("sparsity", {}).items()})
    tracking.log_metrics(run_id, numbers, prefix="optimize/")
    tracking.log_table(run_id, {c: [r.get(c) for r in rows] for c in columns}, "optimize/tradeoff.json")
    tracking.log_artifact(run_id, metrics_dir / "optimize_tradeoff.png", "optimize")
    tracking.set_tags(run_id, {"optimize.method": job.optimize.method})
