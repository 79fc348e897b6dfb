"""The report page of an image-to-image generator: one self-contained HTML file (triplets as base64 PNG) from its
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
from genforge.core.report import html_img, html_page, html_table
from genforge.image2image.stages.evaluate import SAMPLES_JSON

SCORES = ("l1", "psnr", "ssim", "fid", "kid", "copy_share")


def _about(job: Job, registration: dict, training: dict) -> list[list]:
    try:
        tags = tracking.run_tags(registration["run_id"])
        links = tracking.run_links(registration["run_id"], registration["model_name"], registration.get("version"))
    except GenForgeError:
        tags, links = {}, {}
    cfg, pre = job.train, job.preprocess
    faces = (f"any of {', '.join(pre.target_faces)} (zi2zi: a target-face embedding of {cfg.face_embedding})"
             if pre.target_faces else pre.target_face)
    data = {"glyphs": f"{pre.source_face} -> {faces} glyphs",
            "edges": f"Canny edges (sigma {pre.canny_sigma}) -> drawings of {pre.drawings_folder or 'the source'}",
            "folder": "paired folders"}[pre.format]
    rows = [["generator", job.name],
            ["architecture", f"{cfg.arch}: U-Net from {cfg.filters} to {cfg.max_filters} filters"
                             + (f", PatchGAN of {cfg.disc_layers} stride-2 layers, L1 weight {cfg.l1_weight}"
                                if cfg.arch == "pix2pix" else "")],
            ["parameters", training.get("parameters")], ["steps", training.get("steps")],
            ["data", f"{data} from {', '.join(job.data)} (training data md5 {tags.get('data.train.md5', 'unknown')})"],
            ["commit", tags.get("mlflow.source.git.commit", "unknown")],
            ["written", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")]]
    return rows + [[name, url] for name, url in links.items()]


def _feature_note(record: dict, fmt: str) -> str:
    if not record:
        return ("<p>No FID or KID: the training targets are of one category (first folder), too few to train a "
                "feature network of the target domain on.</p>")
    what = ("typefaces trained on {} glyphs of the training characters" if fmt == "glyphs" else
            "categories (first folders) trained on the {} training targets").format(record["images"])
    return (f"<p>Feature network: a classifier of {record['classes']} {what} (training accuracy "
            f"{record['train_accuracy']:.3f}).</p>")


def _versus(paired: dict) -> str:
    if not paired:
        return ""
    rows = [[key, d["mean"], d["standard_error"], d["above"], d["below"]] for key, d in paired.items()]
    return ("<p>The model against the L1-only U-Net, pair by pair (a mean within about two standard errors of 0 is "
            "no difference these test pairs can tell):</p>"
            + html_table(["score", "mean of model - unet_l1", "standard error", "pairs above", "pairs below"], rows))


def _per_face(per_face: dict) -> str:
    if not per_face:
        return ""
    return ("<p>The model's scores per target face (zi2zi: one generator, a face embedding choosing the face):</p>"
            + html_table(["face", "L1", "PSNR (dB)", "SSIM"],
                         [[face, s["l1"], s["psnr"], s["ssim"]] for face, s in per_face.items()]))


def report_page(job: Job, registration: dict, title: str) -> str:
    """The HTML page of image-to-image generator ``job`` from ``paths.metrics``: the best, median and worst test
    triplets (input | output | target), the scores beside the baselines, stability, efficiency, the optimize
    variants, the curves, the gate and ``registration`` (its register.json)."""
    metrics_dir = Path(job.paths.metrics)
    training, evaluation = read_json(metrics_dir / "train.json"), read_json(metrics_dir / "evaluate.json")
    samples, optimization = read_json(metrics_dir / SAMPLES_JSON), read_json(metrics_dir / "optimize.json")
    curves = base64.b64encode((metrics_dir / "train_loss.png").read_bytes()).decode()
    keys = [k for k in SCORES if k in evaluation]
    rows = [["model", *(evaluation[k] for k in keys)]]
    rows += [[name, *(b.get(k) for k in keys)] for name, b in evaluation["baselines"].items()]
    shown = "".join(f"<h3>{html.escape(s['rank'])} SSIM</h3><p>"
                    f"{html_img(s['png'], 'png', s['rank'] + ' triplets', 300)}</p>" for s in samples["samples"])
    gate = evaluation["gate"]
    heading = f"{title}: {registration['model_name']} version {registration['version']}"
    parts = [
        html_table(["", ""], _about(job, registration, training)),
        f"<h2>Test triplets: input | output | target ({evaluation['pairs']} test pairs, never trained on)</h2>",
        shown,
        "<h2>Scores beside the baselines</h2><p>identity: the input as output; unet_l1: the U-Net trained on the L1 "
        "loss alone, same widths and steps. FID and KID against the test targets on the target domain classifier's "
        "features; copy share: outputs nearer a training target than their own.</p>",
        html_table(["predictor", *keys], rows),
        _versus(evaluation.get("versus_unet_l1") or {}),
        _per_face(evaluation.get("per_face") or {}),
        _feature_note(evaluation.get("feature_net") or {}, job.preprocess.format),
        "<h2>Stability</h2>", html_table(["", ""], [[k, v] for k, v in evaluation["stability"].items()]),
        "<h2>Efficiency</h2>", html_table(["", ""], [[k, v] for k, v in evaluation["efficiency"].items()]),
        f"<h2>Optimize (shipped: {html.escape(optimization['method'])})</h2>",
        html_table(["variant", "L1", "SSIM", "bytes", "latency p50 (ms per image)"],
                   [[name, v["l1"], v["ssim"], v["size_bytes"], v["latency_ms_p50"]]
                    for name, v in optimization["variants"].items()]),
        "<h2>Training curves</h2>", html_img(curves, "png", "training curves", 600),
        f"<h2>Gate: {'passed' if gate['passed'] else 'failed'}</h2>",
        html_table(["metric", "value", "op", "threshold", "passed"],
                   [[c["metric"], c["value"], c["op"], c["threshold"], c["passed"]] for c in gate["checks"]]),
        f"<h2>Registry</h2><p>{html.escape(registration['decision'])}</p>",
    ]
    return html_page(heading, parts)
