"""The report page of a text generator: one self-contained HTML file from its stages' metric files."""

from __future__ import annotations

import csv
from pathlib import Path

from genforge.core.config import Job
from genforge.core.files import read_json
from genforge.text.report import render_report
from genforge.text.stages.evaluate import SAMPLES_JSON


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def report_page(job: Job, registration: dict, title: str) -> str:
    """The HTML page of generator ``job`` from ``paths.metrics``: train.json, optimize.json, evaluate.json, the
    samples, the loss curves, and ``registration`` (its register.json)."""
    metrics_dir = Path(job.paths.metrics)
    return render_report(
        evaluation=read_json(metrics_dir / "evaluate.json"),
        registration=registration,
        training=read_json(metrics_dir / "train.json"),
        optimization=read_json(metrics_dir / "optimize.json"),
        samples=read_json(metrics_dir / SAMPLES_JSON),
        history=_rows(metrics_dir / "train_history.csv"),
        steps=[float(r["loss"]) for r in _rows(metrics_dir / "train_steps.csv")],
        title=f"{title}: {registration['model_name']} version {registration['version']}",
    )
