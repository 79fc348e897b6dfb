"""The report page of an image generator: one self-contained HTML file (images inline as base64 PNG) from its
stages' metric files."""

from __future__ import annotations

import base64
import html
from datetime import UTC, datetime
from pathlib import Path

from genforge import GenForgeError
from genforge.core import tracking
from genforge.core.config import Job
from genforge.core.files import read_json
from genforge.image.stages.evaluate import SAMPLES_JSON

SCORES = (("fid", "FID", "lower"), ("kid", "KID", "lower"), ("precision", "precision", "higher"),
          ("recall", "recall", "higher"), ("density", "density", "higher (1 = as real)"),
          ("coverage", "coverage", "higher"), ("classifier_score", "classifier score", "higher"),
          ("class_entropy_bits", "class entropy (bits)", "higher"), ("classes_missing", "classes never generated",
                                                                     "lower"))
STYLE = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}table{border-collapse:collapse;"
         "margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}"
         "td:first-child,th:first-child{text-align:left}img{image-rendering:pixelated}")


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _png(data: str, alt: str, width: int) -> str:
    return f'<img alt="{html.escape(alt)}" width="{width}" src="data:image/png;base64,{data}">'


def _about(job: Job, registration: dict, training: dict) -> list[list]:
    try:
        tags = tracking.run_tags(registration["run_id"])
        links = tracking.run_links(registration["run_id"], registration["model_name"], registration.get("version"))
    except GenForgeError:
        tags, links = {}, {}
    cfg = job.train
    rows = [["generator", job.name], ["architecture", f"{'conditional ' if cfg.conditional else ''}{cfg.arch}, "
                                                      f"widths {list(cfg.widths)}"],
            ["generator parameters", training.get("parameters")], ["steps", training.get("steps")],
            ["data", f"{', '.join(job.data)} (train md5 {tags.get('data.train.md5', 'unknown')})"],
            ["commit", tags.get("mlflow.source.git.commit", "unknown")],
            ["written", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")]]
    return rows + [[name, url] for name, url in links.items()]


def report_page(job: Job, registration: dict, title: str) -> str:
    """The HTML page of image generator ``job`` from ``paths.metrics``: the sample grid, the scores beside the
    real-vs-real floor and the noise ceiling, the closest training pairs, stability, efficiency, the optimize
    variants, the curves, the gate and ``registration`` (its register.json)."""
    metrics_dir = Path(job.paths.metrics)
    training, evaluation = read_json(metrics_dir / "train.json"), read_json(metrics_dir / "evaluate.json")
    samples, optimization = read_json(metrics_dir / SAMPLES_JSON), read_json(metrics_dir / "optimize.json")
    floor, ceiling = evaluation["floor"], evaluation["ceiling"]
    score_rows = [[label, evaluation[key], floor[key], ceiling[key], better] for key, label, better in SCORES]
    score_rows.insert(2, ["KID standard deviation", evaluation["kid_std"], floor["kid_std"], ceiling["kid_std"], ""])
    curves = base64.b64encode((metrics_dir / "train_loss.png").read_bytes()).decode()
    gate = evaluation["gate"]
    heading = f"{title}: {registration['model_name']} version {registration['version']}"
    parts = [
        f"<h1>{html.escape(heading)}</h1>", _table(["", ""], _about(job, registration, training)),
        f"<h2>Samples (seed {samples['seed']})</h2>", _png(samples["grid_png"], "sample grid", 480),
        f"<h2>Scores of {evaluation['samples']} samples against as many test images</h2>",
        "<p>On the domain feature network; floor: held-out real images (val) scored the same way; ceiling: "
        "uniform noise.</p>",
        _table(["metric", "samples", "floor (real)", "ceiling (noise)", "better"], score_rows),
        "<h2>Memorization (Carlini et al. 2023)</h2>",
        _table(["", ""], [[k, v] for k, v in evaluation["memorization"].items()]),
        "<p>Closest sample | training image pairs (pixel distance):</p>", _png(samples["pairs_png"], "pairs", 120),
        "<h2>Stability</h2>", _table(["", ""], [[k, v] for k, v in evaluation["stability"].items()]),
        "<h2>Efficiency</h2>", _table(["", ""], [[k, v] for k, v in evaluation["efficiency"].items()]),
        f"<h2>Optimize (shipped: {html.escape(optimization['method'])})</h2>",
        _table(["variant", "FID", "KID", "bytes", "latency p50 (ms)"],
               [[name, v["fid"], v["kid"], v["size_bytes"], v["latency_ms_p50"]]
                for name, v in optimization["variants"].items()]),
        "<h2>Training curves</h2>", _png(curves, "training curves", 600),
        f"<h2>Gate: {'passed' if gate['passed'] else 'failed'}</h2>",
        _table(["metric", "value", "op", "threshold", "passed"],
               [[c["metric"], c["value"], c["op"], c["threshold"], c["passed"]] for c in gate["checks"]]),
        f"<h2>Registry</h2><p>{html.escape(registration['decision'])}</p>",
    ]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(heading)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
