"""report: render the evaluation report (one self-contained HTML file) and log it to the model's MLflow run."""

from __future__ import annotations

import csv
from pathlib import Path

from genforge.core import tracking
from genforge.core.files import atomic_path, read_json
from genforge.text.config import Params
from genforge.text.report import render_report

REPORT = "report.html"  # in paths.reports


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def report(params: Params) -> dict:
    """Write ``paths.reports/report.html`` from the metric files of train, optimize, evaluate and register and the
    samples of evaluate; log it to the model's MLflow run as ``report/report.html``."""
    metrics_dir, reports = Path(params.paths.metrics), Path(params.paths.reports)
    registration = read_json(metrics_dir / "register.json")
    html = render_report(
        evaluation=read_json(metrics_dir / "evaluate.json"),
        registration=registration,
        training=read_json(metrics_dir / "train.json"),
        optimization=read_json(metrics_dir / "optimize.json"),
        samples=read_json(reports / "samples.json"),
        history=_rows(metrics_dir / "train_history.csv"),
        steps=[float(r["loss"]) for r in _rows(metrics_dir / "train_steps.csv")],
        title=f"{params.report.title}: {registration['model_name']} version {registration['version']}",
    )
    path = reports / REPORT
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    tracking.log_artifact(registration["run_id"], path, "report")
    return {"report": str(path), "bytes": len(html.encode())}


def main() -> int:
    from tasks import run_stage

    return run_stage("report", report)


if __name__ == "__main__":
    raise SystemExit(main())
