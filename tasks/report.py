"""report: every generator's report page and the index page that lists them (``python -m tasks.report``)."""

from __future__ import annotations

from pathlib import Path

from genforge.core import tracking
from genforge.core.config import ParamsBase, job
from genforge.core.files import atomic_path, read_json
from genforge.core.modality import get_modality
from genforge.core.report import index_html, index_row, not_run_row

INDEX = "index.html"  # in paths.reports, beside one <generator>.html per generator


def report(params: ParamsBase) -> dict:
    """Write ``paths.reports/<generator>.html`` for every generator (its modality's page, from its metric files) and
    ``paths.reports/index.html`` (a row per generator: gate, headline metric, registry decision, champion; "not run"
    for a generator with no register.json yet); log each page to its model's MLflow run as ``report/report.html``.
    The folder is replaced whole.

    A generator whose run is not in this tracking store (a fresh clone's ``mlflow.db`` holds only the runs trained
    there, by ``make run ONLY=...`` for instance) gets its page without MLflow links and a line on stdout naming it,
    instead of failing the stage.

    Raises:
        GenForgeError: a metric file is missing or the tracking store cannot answer (named).
    """
    rows = []
    with atomic_path(params.paths.reports, is_dir=True) as tmp:
        for name in params.generators:
            gen = job(params, name)
            record = Path(gen.paths.metrics) / "register.json"
            if not record.exists():  # a generator no run has reached yet (`make run ONLY=...`)
                rows.append((not_run_row(name, gen.modality), None))
                continue
            registration = read_json(record)
            page = get_modality(gen.modality).report(gen, registration, params.report.title)
            (tmp / f"{name}.html").write_text(page, encoding="utf-8")
            rows.append((index_row(name, gen.modality, registration, f"{name}.html"), registration["run_id"]))
        (tmp / INDEX).write_text(index_html([r for r, _ in rows], params.report.title), encoding="utf-8")
    reports = Path(params.paths.reports)
    for row, run_id in rows:
        if run_id is not None:
            _log_page(row, run_id, reports)
    return {"index": str(reports / INDEX), "generators": len(rows)}


def _log_page(row: dict, run_id: str, reports: Path) -> None:
    """Log a generator's page to its MLflow run, or say on stdout, naming the generator, that this tracking store
    does not hold the run."""
    if tracking.run_exists(run_id):
        tracking.log_artifact_as(run_id, reports / row["page"], "report/report.html")
        return
    print(f"report: {row['generator']}: its MLflow run {run_id} (from its register.json) is not in "
          f"{tracking.tracking_uri()}: its page has no MLflow links and was not logged to a run. Train it in this "
          f"project to have them (`make run ONLY={row['generator']}`)")


def main() -> int:
    from tasks import stage_main

    return stage_main("report", report)


if __name__ == "__main__":
    raise SystemExit(main())
