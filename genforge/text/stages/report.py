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


def architecture(cfg) -> str:
    """One line that names a text generator's network and its sizes (the ``train`` section)."""
    if cfg.arch == "gpt":
        g = cfg.gpt
        return f"GPT: {g.n_layer} layers, {g.n_head} heads, width {g.n_embd}, block {cfg.seq_len}"
    if cfg.arch == "mlp":
        m = cfg.mlp
        return f"MLP: {m.context} tokens of context, hidden {m.hidden}, {m.activation}"
    return f"LSTM: embedding {cfg.embedding_dim}, {cfg.layers} x {cfg.units} units, windows of {cfg.seq_len}"


def about(job: Job, registration: dict, training: dict) -> dict:
    """What the page is about: generator, modality, architecture, size, steps, data (with the train file's md5),
    commit, the date the page was written (UTC), and the MLflow run and version pages over http (empty when the
    run is not in the tracking store)."""
    from datetime import UTC, datetime

    from genforge import GenForgeError
    from genforge.core import tracking

    try:
        tags = tracking.run_tags(registration["run_id"])
        links = tracking.run_links(registration["run_id"], registration["model_name"], registration.get("version"))
    except GenForgeError:
        tags, links = {}, {}
    return {"generator": job.name, "modality": job.modality, "architecture": architecture(job.train),
            "parameters": training.get("parameters"), "steps": training.get("steps"),
            "epochs": training.get("epochs"), "data": ", ".join(job.data),
            "data_md5": tags.get("data.train.md5", "unknown"), "commit": tags.get("mlflow.source.git.commit",
                                                                                "unknown"),
            "written": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "links": links}


def report_page(job: Job, registration: dict, title: str) -> str:
    """The HTML page of generator ``job`` from ``paths.metrics``: train.json, optimize.json, evaluate.json, the
    samples, the loss curves, and ``registration`` (its register.json)."""
    metrics_dir = Path(job.paths.metrics)
    training = read_json(metrics_dir / "train.json")
    return render_report(
        about=about(job, registration, training),
        evaluation=read_json(metrics_dir / "evaluate.json"),
        registration=registration,
        training=training,
        optimization=read_json(metrics_dir / "optimize.json"),
        samples=read_json(metrics_dir / SAMPLES_JSON),
        history=_rows(metrics_dir / "train_history.csv"),
        steps=[float(r["loss"]) for r in _rows(metrics_dir / "train_steps.csv")],
        title=f"{title}: {registration['model_name']} version {registration['version']}",
    )
