"""The report page of a video generator: one self-contained HTML file (strips as base64 PNG, animations as base64 GIF)
from its stages' metric files."""

from __future__ import annotations

import base64
import html
from datetime import UTC, datetime
from pathlib import Path

from genforge import GenForgeError
from genforge.core import tracking
from genforge.core.config import Job
from genforge.core.files import read_json
from genforge.core.report import html_img, html_page, html_table
from genforge.video.stages.evaluate import BASELINES, SAMPLES_JSON


def _about(job: Job, registration: dict, training: dict) -> list[list]:
    try:
        tags = tracking.run_tags(registration["run_id"])
        links = tracking.run_links(registration["run_id"], registration["model_name"], registration.get("version"))
    except GenForgeError:
        tags, links = {}, {}
    cfg = job.train
    rows = [["generator", job.name], ["architecture", f"{cfg.arch}, filters {list(cfg.filters)}, patch {cfg.patch}"],
            ["parameters", training.get("parameters")], ["steps", training.get("steps")],
            ["data", f"{job.preprocess.format} sequences from {', '.join(job.data)} (training data md5 "
                     f"{tags.get('data.train.md5', 'unknown')})"],
            ["commit", tags.get("mlflow.source.git.commit", "unknown")],
            ["written", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")]]
    return rows + [[name, url] for name, url in links.items()]


def _horizon_rows(evaluation: dict) -> list[list]:
    scores, names = evaluation["per_horizon"], ("model", *BASELINES)
    return [[h + 1, *(scores[n][key][h] for key in ("ssim", "psnr", "mse") for n in names)]
            for h in range(evaluation["horizon"])]


def report_page(job: Job, registration: dict, title: str) -> str:
    """The HTML page of video generator ``job`` from ``paths.metrics``: per sample its strip (context, generated,
    true) and GIF, the per-horizon table beside the baselines, stability, efficiency, the optimize variants, the
    curves, the gate and ``registration`` (its register.json)."""
    metrics_dir = Path(job.paths.metrics)
    training, evaluation = read_json(metrics_dir / "train.json"), read_json(metrics_dir / "evaluate.json")
    samples, optimization = read_json(metrics_dir / SAMPLES_JSON), read_json(metrics_dir / "optimize.json")
    curves = base64.b64encode((metrics_dir / "train_loss.png").read_bytes()).decode()
    names = ("model", *BASELINES)
    header = ["horizon", *(f"{key} {n.replace('_', ' ')}" for key in ("SSIM", "PSNR", "MSE") for n in names)]
    gate = evaluation["gate"]
    heading = f"{title}: {registration['model_name']} version {registration['version']}"
    shown = "".join(f"<p>{html_img(s['strip_png'], 'png', f'sample {i} strip', 900)}<br>"
                    f"{html_img(s['gif'], 'gif', f'sample {i} animation', 256)}</p>"
                    for i, s in enumerate(samples["samples"]))
    means = [["model", evaluation["ssim_mean"], evaluation["psnr_mean"], evaluation["mse_mean"]]]
    means += [[n, b["ssim_mean"], b["psnr_mean"], b["mse_mean"]] for n, b in evaluation["baselines"].items()]
    parts = [
        html_table(["", ""], _about(job, registration, training)),
        f"<h2>Samples: {evaluation['context_frames']} context frames, then {evaluation['horizon']} generated</h2>",
        "<p>Each strip: the context, the generated frames (rows 1 and 2: context then generated), the true frames "
        "(row 3). Each animation: the context, then generated (left) beside true (right).</p>", shown,
        f"<h2>Scores on {evaluation['sequences']} test sequences (never trained on)</h2>",
        html_table(["predictor", "mean SSIM", "mean PSNR (dB)", "mean MSE"], means),
        "<h3>Per horizon</h3>", html_table(header, _horizon_rows(evaluation)),
        "<h2>Stability</h2>", html_table(["", ""], [[k, v] for k, v in evaluation["stability"].items()]),
        "<h2>Efficiency</h2>", html_table(["", ""], [[k, v] for k, v in evaluation["efficiency"].items()]),
        f"<h2>Optimize (shipped: {html.escape(optimization['method'])})</h2>",
        html_table(["variant", "SSIM", "MSE", "bytes", "latency p50 (ms per frame)"],
               [[name, v["ssim"], v["mse"], v["size_bytes"], v["latency_ms_p50"]]
                for name, v in optimization["variants"].items()]),
        "<h2>Training curves</h2>", html_img(curves, "png", "training curves", 600),
        f"<h2>Gate: {'passed' if gate['passed'] else 'failed'}</h2>",
        html_table(["metric", "value", "op", "threshold", "passed"],
               [[c["metric"], c["value"], c["op"], c["threshold"], c["passed"]] for c in gate["checks"]]),
        f"<h2>Registry</h2><p>{html.escape(registration['decision'])}</p>",
    ]
    return html_page(heading, parts)
