"""evaluate: generate the frames after each test sequence's context in closed loop and score them per horizon (MSE,
PSNR, SSIM) beside the copy-last-frame and mean-frame baselines; stability, efficiency and the promotion gate."""

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
from genforge.core.files import atomic_path, read_json, write_json
from genforge.core.gate import check_gate
from genforge.core.stability import nonfinite_count
from genforge.core.trainer import set_threads
from genforge.video.media import gif_bytes, png_base64, strip, to_uint8
from genforge.video.metrics import black_frame, copy_last_frame, mean_frame, per_horizon
from genforge.video.models import generate
from genforge.video.store import PREDICTOR, load_predictor
from genforge.video.training import TEST

SAMPLES_JSON = "samples.json"  # in paths.metrics: per sample, its strip (PNG) and GIF, base64
BASELINES = {"copy_last_frame": copy_last_frame, "mean_frame": mean_frame, "black_frame": black_frame}


def evaluate(job: Job) -> dict:
    """Write ``paths.metrics/{evaluate.json, samples.json, samples.txt}`` and log them to the model's MLflow run.

    For the first ``evaluate.num_sequences`` test sequences (never trained on), the model is given the
    first ``train.context`` frames and generates the rest in closed loop. evaluate.json holds ``ssim_mean``,
    ``psnr_mean`` and ``mse_mean`` (over every generated frame), ``per_horizon`` (MSE, PSNR and SSIM at horizons
    1..H for the model and each baseline of :data:`BASELINES`: copy-last-frame, mean-frame and black-frame),
    ``baselines`` (their means), ``ssim_gain`` (the
    model's mean SSIM minus copy-last-frame's), ``stability``, ``efficiency`` and ``gate``
    (:func:`genforge.core.gate.check_gate` against ``evaluate.gate``).
    """
    set_threads(job.train)
    cfg = job.evaluate
    folder, processed = Path(job.paths.optimized), Path(job.paths.processed)
    model, spec = load_predictor(folder)
    test = np.load(processed / TEST)[:cfg.num_sequences]
    k = spec["context"]
    scaled = test.astype(np.float32) / 255
    context, true = scaled[:, :k], scaled[:, k:]
    start = time.perf_counter()
    generated = generate(model, spec, context, true.shape[1])
    seconds = time.perf_counter() - start
    scores = {"model": per_horizon(generated, true)}
    scores.update({name: per_horizon(fn(context, true.shape[1]), true) for name, fn in BASELINES.items()})
    result = {"sequences": len(test), "context_frames": k, "horizon": true.shape[1],
              **{f"{key}_mean": float(np.mean(scores["model"][key])) for key in ("ssim", "psnr", "mse")},
              "baselines": {name: {f"{key}_mean": float(np.mean(s[key])) for key in ("ssim", "psnr", "mse")}
                            for name, s in scores.items() if name != "model"},
              "per_horizon": scores}
    result["ssim_gain"] = result["ssim_mean"] - result["baselines"]["copy_last_frame"]["ssim_mean"]
    result["stability"] = _stability(job, model, spec, context[:4])
    result["efficiency"] = _efficiency(job, folder, model, spec, context, len(test) * true.shape[1] / seconds)
    result["gate"] = check_gate(tracking.flatten(result), cfg.gate)
    samples = _write(job, result, test[:cfg.samples], to_uint8(generated[:cfg.samples]))
    _log(job, folder, result, samples)
    gate = result["gate"]
    return {"ssim_mean": round(result["ssim_mean"], 4),
            "copy_last_frame_ssim": round(result["baselines"]["copy_last_frame"]["ssim_mean"], 4),
            "gate": "passed" if gate["passed"] else "failed: " + "; ".join(gate["reasons"])}


def _stability(job: Job, model, spec: dict, context: np.ndarray) -> dict:
    """Non-finite training losses, and whether the same context gives the same frames twice."""
    path = Path(job.paths.metrics) / "train_steps.csv"
    with open(path, newline="") as f:
        losses = [float(r["loss"]) for r in csv.DictReader(f)]
    again = [to_uint8(generate(model, spec, context, 2)) for _ in range(2)]
    return {"nonfinite_losses": nonfinite_count(losses), "training_steps": len(losses),
            "same_input_identical": bool(np.array_equal(*again))}


def _efficiency(job: Job, folder: Path, model, spec: dict, context: np.ndarray, frames_per_second: float) -> dict:
    """Parameters, file size, training speed, generation speed (frames/s over the test set, and per-frame latency
    at batch 1 and ``evaluate.speed_batch``: the median and 95th percentile of ``evaluate.latency_runs`` runs of
    generating the horizon's frames)."""
    train_summary = read_json(Path(job.paths.metrics) / "train.json")
    out = {"parameters": train_summary.get("parameters", 0), "model_file_bytes": (folder / PREDICTOR).stat().st_size,
           "train_sequences_per_second": train_summary.get("sequences_per_second", 0.0),
           "train_peak_rss_mib": train_summary.get("peak_rss_mib", 0.0),
           "generated_frames_per_second": frames_per_second}
    horizon = spec["horizon"]
    for batch in (1, job.evaluate.speed_batch):
        rows = np.resize(np.arange(len(context)), batch)
        times = []
        for _ in range(job.evaluate.latency_runs):
            start = time.perf_counter()
            generate(model, spec, context[rows], horizon)
            times.append((time.perf_counter() - start) * 1000 / horizon)
        out.update({f"batch_{batch}_ms_per_frame_p50": percentile(times, 50),
                    f"batch_{batch}_ms_per_frame_p95": percentile(times, 95)})
    out["evaluate_peak_rss_mib"] = peak_rss_mib()
    return out


def _write(job: Job, result: dict, shown: np.ndarray, generated: np.ndarray) -> list[dict]:
    """Write samples.json, samples.txt and evaluate.json; return the samples (strip and GIF of each, base64)."""
    metrics_dir, k = Path(job.paths.metrics), result["context_frames"]
    samples = []
    for i, (sequence, frames) in enumerate(zip(shown, generated, strict=True)):
        picture = strip([sequence[:k], frames, sequence[k:]])
        # the GIF: the context, then generated | true side by side
        movie = np.concatenate([np.concatenate([sequence[:k], sequence[:k]], axis=2),
                                np.concatenate([frames, sequence[k:]], axis=2)])
        samples.append({"index": i, "strip_png": png_base64(picture),
                        "gif": base64.b64encode(gif_bytes(movie, ms=job.evaluate.gif_ms)).decode("ascii")})
    write_json(metrics_dir / SAMPLES_JSON, {"rows": ["context", "generated", "true"], "samples": samples})
    scores = result["per_horizon"]
    names = ("model", *BASELINES)
    lines = [f"{result['sequences']} test sequences, {k} context frames; mean per horizon of "
             f"{' | '.join(n.replace('_', ' ') for n in names)}:",
             "horizon  " + "   ".join(f"{key:<{8 * len(names) - 2}}" for key in ("ssim", "psnr (dB)", "mse"))]
    for h in range(result["horizon"]):
        cells = ["  ".join(f"{scores[n][key][h]:.4f}" for n in names)
                 for key in ("ssim", "psnr", "mse")]
        lines.append(f"{h + 1:>7}  " + "   ".join(cells))
    with atomic_path(metrics_dir / "samples.txt") as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_json(metrics_dir / "evaluate.json", result)
    return samples


def _log(job: Job, folder: Path, result: dict, samples: list[dict]) -> None:
    run_id = read_json(folder / tracking.RUN_FILE)["run_id"]
    flat = {k: v for k, v in tracking.flatten(result).items()
            if isinstance(v, int | float) and not k.startswith(("gate.", "per_horizon.", "efficiency.", "stability."))}
    tracking.log_metrics(run_id, flat, prefix="test/")
    scores = result["per_horizon"]
    for h in range(result["horizon"]):  # one series per predictor and score, stepped by horizon
        tracking.log_metrics(run_id, {f"{name}/{key}": values[h] for name, by_key in scores.items()
                                      for key, values in by_key.items()}, prefix="horizon/", step=h + 1)
    for section in ("stability", "efficiency"):
        tracking.log_metrics(run_id, {k: v for k, v in result[section].items() if isinstance(v, int | float)},
                             prefix=f"{section}/")
    gate = result["gate"]
    tracking.log_metrics(run_id, {"passed": gate["passed"]}, prefix="gate/")
    tracking.set_tags(run_id, {"gate.passed": str(gate["passed"]).lower(), "gate.reasons": "; ".join(gate["reasons"])
                               or "all checks passed"})
    with tempfile.TemporaryDirectory() as tmp:
        for sample in samples:
            for key, suffix in (("strip_png", "png"), ("gif", "gif")):
                path = Path(tmp) / f"sample_{sample['index']}.{suffix}"
                path.write_bytes(base64.b64decode(sample[key]))
                tracking.log_artifact(run_id, path, "samples")
    tracking.log_artifact(run_id, Path(job.paths.metrics) / "samples.txt", "samples")
