"""evaluate: translate the test pairs (characters or drawings never seen in training) and score the outputs against
their targets (L1, PSNR, SSIM; FID and KID on the target domain's feature network; the share that copies a training
target) beside the identity and L1-only U-Net baselines; stability, efficiency and the promotion gate."""

from __future__ import annotations

import base64
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from genforge.core import tracking
from genforge.core.config import Job
from genforge.core.efficiency import peak_rss_mib, percentile
from genforge.core.feature_distances import fid, kid
from genforge.core.files import atomic_path, read_json, write_json
from genforge.core.gate import check_gate
from genforge.core.stability import nonfinite_count
from genforge.core.trainer import set_threads
from genforge.image2image.features import embed, train_feature_net
from genforge.image2image.metrics import copy_share, pair_scores, paired_difference
from genforge.image2image.pictures import triplets
from genforge.image2image.pyfunc import png_base64
from genforge.image2image.store import BASELINE, GENERATOR, load_generator
from genforge.image2image.training import (
    DATASET,
    DOMAIN,
    DOMAIN_LABELS,
    load_faces,
    load_split,
    model_inputs,
    target_faces,
    translate,
)

SAMPLES_JSON = "samples.json"  # in paths.metrics: the best, median and worst test triplets (PNG, base64)


def _scored(outputs: np.ndarray, targets: np.ndarray, train_targets: np.ndarray, features, kid_subsets: int):
    """The mean scores of ``outputs`` (:func:`genforge.image2image.metrics.pair_scores`, the copy share, and with
    ``features`` (the feature network and the test targets' features) FID and KID); and the per-pair scores."""
    per_pair = pair_scores(outputs, targets)
    out = {k: float(v.mean()) for k, v in per_pair.items()}
    out["copy_share"] = copy_share(outputs, targets, train_targets)["share"]
    if features is not None:
        model, real = features
        fake = embed(model, outputs)
        out["fid"] = fid(real, fake)
        out["kid"] = kid(real, fake, subsets=kid_subsets, subset_size=len(real), seed=0)["mean"]
    return out, per_pair


def evaluate(job: Job) -> dict:
    """Write ``paths.metrics/{evaluate.json, samples.json, samples.txt}`` and log them to the model's MLflow run.

    evaluate.json holds the model's mean ``l1``, ``psnr``, ``ssim``, ``fid``, ``kid`` and ``copy_share`` over the
    test pairs; ``baselines`` (the same for ``identity``, the input as output, and ``unet_l1``, the L1-only U-Net
    trained beside it); ``l1_ratio_identity`` (model L1 / identity L1) and ``ssim_gain_identity``; ``stability``,
    ``efficiency`` and ``gate`` (:func:`genforge.core.gate.check_gate` against ``evaluate.gate``); with the
    baseline, ``versus_unet_l1``: the paired difference of L1 and SSIM, model minus baseline, per test pair
    (:func:`genforge.image2image.metrics.paired_difference`: mean, standard error, pairs above and below). FID and KID
    compare outputs with the test targets on the target domain's classifier (:mod:`genforge.image2image.features`:
    of typefaces for glyphs, of categories (first folders) for drawings and paired folders), whose record is
    ``feature_net``.

    Raises:
        GenForgeError: the optimized generator or a split is missing (run the stages before), or its spec unreadable.
    """
    set_threads(job.train)
    cfg, folder, processed = job.evaluate, Path(job.paths.optimized), Path(job.paths.processed)
    generator, _ = load_generator(folder)
    x, y = load_split(processed, "test", job.name)
    faces = load_faces(processed, "test")  # zi2zi: each pair's target face
    train_targets = load_split(processed, "train", job.name)[1]
    features, feature_net = _feature_net(job, processed, y)
    start = time.perf_counter()
    outputs = translate(generator, x, faces=faces)
    seconds = time.perf_counter() - start
    result, per_pair = _scored(outputs, y, train_targets, features, cfg.kid_subsets)
    if faces is not None:
        result["per_face"] = {name: {k: float(v[faces == i].mean()) for k, v in per_pair.items()}
                              for i, name in enumerate(target_faces(processed))}
    identity, _ = _scored(x, y, train_targets, features, cfg.kid_subsets)
    result = {"pairs": len(x), **result, "baselines": {"identity": identity}, "feature_net": feature_net}
    if (folder / BASELINE).is_file():
        baseline, _ = load_generator(folder, BASELINE)
        result["baselines"]["unet_l1"], baseline_pairs = _scored(translate(baseline, x, faces=faces), y,
                                                                 train_targets, features, cfg.kid_subsets)
        if len(x) > 1:
            result["versus_unet_l1"] = {k: paired_difference(per_pair[k], baseline_pairs[k]) for k in ("l1", "ssim")}
    result["l1_ratio_identity"] = result["l1"] / identity["l1"]
    result["ssim_gain_identity"] = result["ssim"] - identity["ssim"]
    result["stability"] = _stability(job, generator, x[:4], None if faces is None else faces[:4])
    result["efficiency"] = _efficiency(job, folder, generator, (x, faces), len(x) / seconds)
    result["gate"] = check_gate(tracking.flatten(result), cfg.gate)
    samples = _write(job, result, x, outputs, y, per_pair["ssim"])
    _log(job, folder, result, samples)
    return {"l1": round(result["l1"], 4), "ssim": round(result["ssim"], 4),
            "identity_ssim": round(identity["ssim"], 4),
            "gate": "passed" if result["gate"]["passed"] else "failed: " + "; ".join(result["gate"]["reasons"])}


def _feature_net(job: Job, processed: Path, targets: np.ndarray):
    """``(model, features of the test targets)`` of the target domain's classifier (glyphs: of typefaces; edges and
    folders: of categories) and its record (``classes``, ``images``, ``train_accuracy``); ``(None, {})`` without
    domain images (targets of one category)."""
    if not (processed / f"{DOMAIN}.npy").is_file():
        return None, {}
    images, labels = np.load(processed / f"{DOMAIN}.npy"), np.load(processed / f"{DOMAIN_LABELS}.npy")
    model, accuracy = train_feature_net(images, labels, epochs=job.evaluate.feature_epochs, seed=job.seed)
    record = {"classes": int(labels.max()) + 1, "images": len(images), "train_accuracy": accuracy}
    return (model, embed(model, targets)), record


def _stability(job: Job, generator, inputs: np.ndarray, faces: np.ndarray | None) -> dict:
    """Non-finite training losses, and whether the same inputs give the same outputs twice."""
    with open(Path(job.paths.metrics) / "train_steps.csv", newline="") as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f)]
    again = [translate(generator, inputs, faces=faces) for _ in range(2)]
    return {"nonfinite_losses": nonfinite_count(losses), "training_steps": len(losses),
            "same_input_identical": bool(np.array_equal(*again))}


def _efficiency(job: Job, folder: Path, generator, test: tuple, images_per_second: float) -> dict:
    """Parameters, file size, training speed, translation speed (images/s over the test set; latency per image at
    batch 1 and ``evaluate.speed_batch``: median and 95th percentile of ``evaluate.latency_runs`` runs); ``test``:
    the test inputs and their faces (None but for zi2zi)."""
    inputs, faces = test
    train_summary = read_json(Path(job.paths.metrics) / "train.json")
    out = {"parameters": int(generator.count_params()), "model_file_bytes": (folder / GENERATOR).stat().st_size,
           "train_pairs_per_second": train_summary.get("pairs_per_second", 0.0),
           "train_peak_rss_mib": train_summary.get("peak_rss_mib", 0.0), "images_per_second": images_per_second}
    for batch in (1, job.evaluate.speed_batch):
        rows = np.resize(np.arange(len(inputs)), batch)
        batch_inputs = model_inputs(inputs[rows], None if faces is None else faces[rows])
        times = []
        for _ in range(job.evaluate.latency_runs):
            start = time.perf_counter()
            generator(batch_inputs, training=False)
            times.append((time.perf_counter() - start) * 1000 / batch)
        out.update({f"batch_{batch}_ms_per_image_p50": percentile(times, 50),
                    f"batch_{batch}_ms_per_image_p95": percentile(times, 95)})
    out["evaluate_peak_rss_mib"] = peak_rss_mib()
    return out


def _write(job: Job, result: dict, x, outputs, y, ssim: np.ndarray) -> list[dict]:
    """Write samples.json (the best, median and worst ``evaluate.samples`` test triplets by SSIM), samples.txt
    and evaluate.json; return the samples."""
    metrics_dir, k = Path(job.paths.metrics), job.evaluate.samples
    order = np.argsort(-ssim, kind="stable")
    middle = max(0, len(order) // 2 - k // 2)
    samples = []
    for name, rows in (("best", order[:k]), ("median", order[middle:middle + k]), ("worst", order[-k:])):
        samples.append({"rank": name, "pairs": rows.tolist(), "ssim": ssim[rows].tolist(),
                        "png": png_base64(triplets(x[rows], outputs[rows], y[rows]))})
    write_json(metrics_dir / SAMPLES_JSON, {"columns": ["input", "output", "target"], "samples": samples})
    names = ("model", *result["baselines"])
    table = [result, *result["baselines"].values()]
    keys = [key for key in ("l1", "psnr", "ssim", "fid", "kid", "copy_share") if key in result]
    fmt = read_json(Path(job.paths.processed) / DATASET)["format"]  # dataset.json's: preprocess is not a param here
    unseen = {"glyphs": "characters", "edges": "series of drawings"}.get(fmt, "pairs")
    lines = [f"{result['pairs']} test pairs ({unseen} never seen in training)",
             f"{'':<10}" + "".join(f"{key:>12}" for key in keys)]
    lines += [f"{name:<10}" + "".join(f"{row[key]:>12.4f}" for key in keys) for name, row in zip(names, table,
                                                                                                strict=True)]
    lines += [f"model - unet_l1, {key} per pair: {d['mean']:+.4f} (standard error {d['standard_error']:.4f}; "
              f"above on {d['above']}, below on {d['below']})" for key, d in result.get("versus_unet_l1", {}).items()]
    with atomic_path(metrics_dir / "samples.txt") as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_json(metrics_dir / "evaluate.json", result)
    return samples


def _log(job: Job, folder: Path, result: dict, samples: list[dict]) -> None:
    run_id = read_json(folder / tracking.RUN_FILE)["run_id"]
    flat = {k: v for k, v in tracking.flatten(result).items()
            if isinstance(v, int | float) and not k.startswith(("gate.", "efficiency.", "stability."))}
    tracking.log_metrics(run_id, flat, prefix="test/")
    for section in ("stability", "efficiency"):
        tracking.log_metrics(run_id, {k: v for k, v in result[section].items() if isinstance(v, int | float)},
                             prefix=f"{section}/")
    gate = result["gate"]
    tracking.log_metrics(run_id, {"passed": gate["passed"]}, prefix="gate/")
    tracking.set_tags(run_id, {"gate.passed": str(gate["passed"]).lower(), "gate.reasons": "; ".join(gate["reasons"])
                               or "all checks passed"})
    with tempfile.TemporaryDirectory() as tmp:
        for sample in samples:
            path = Path(tmp) / f"triplets_{sample['rank']}.png"
            path.write_bytes(base64.b64decode(sample["png"]))
            tracking.log_artifact(run_id, path, "samples")
    tracking.log_artifact(run_id, Path(job.paths.metrics) / "samples.txt", "samples")
