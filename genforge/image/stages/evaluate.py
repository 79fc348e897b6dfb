"""evaluate: score the optimized image generator's samples on the domain feature network against the test images,
beside the real-vs-real floor and the noise ceiling; memorization, stability and efficiency; the promotion gate."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from genforge.core import tracking
from genforge.core.config import Job
from genforge.core.efficiency import peak_rss_mib
from genforge.core.files import atomic_path, read_json, write_json
from genforge.core.gate import check_gate
from genforge.core.stability import nonfinite_count, seed_spread
from genforge.core.trainer import set_threads
from genforge.image.data import scale
from genforge.image.evaluation import generation_speed, negative_elbo_bits_per_dim, noise_images, scores
from genforge.image.features import embed
from genforge.image.grid import grid, png_base64
from genforge.image.metrics import memorization
from genforge.image.sampling import generate
from genforge.image.shards import load_split
from genforge.image.stages.preprocess import FEATURE_NET
from genforge.image.store import ENCODER, GENERATOR, load_generator

SAMPLES_JSON = "samples.json"  # in paths.metrics: the sample grid, the closest pairs and per-sample records


def _read_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _stability(job: Job, network, spec: dict, score) -> dict:
    """Non-finite training losses, a collapsed discriminator (gan), and the FID over ``evaluate.seeds`` sampling
    seeds (``seed``, ``seed + 1``, ...)."""
    metrics_dir = Path(job.paths.metrics)
    losses = [float(r["loss"]) for r in _read_csv(metrics_dir / "train_steps.csv")]
    history = _read_csv(metrics_dir / "train_history.csv")
    last_d = float(history[-1]["d_loss"]) if history and history[-1].get("d_loss") else float("nan")
    fids = [score(generate(network, spec, job.evaluate.num_samples, job.seed + i))["fid"]
            for i in range(1, job.evaluate.seeds)]
    return {"nonfinite_losses": nonfinite_count(losses), "training_steps": len(losses),
            "discriminator_collapsed": bool(last_d < job.evaluate.collapse_loss),
            "same_seed_identical": bool(np.array_equal(generate(network, spec, 4, job.seed),
                                                       generate(network, spec, 4, job.seed))),
            "fid_seeds": len(fids) + 1, "fids": fids}


def _memorization(job: Job, samples: np.ndarray, train: np.ndarray) -> tuple[dict, list[dict], np.ndarray]:
    """Carlini et al.'s test on the first ``memorization_samples`` samples in pixel space; the closest pairs."""
    cfg = job.evaluate
    checked = samples[:cfg.memorization_samples]
    flat = scale(checked, (0.0, 1.0)).reshape(len(checked), -1)
    result = memorization(flat, scale(train, (0.0, 1.0)).reshape(len(train), -1), alpha=cfg.memorization_alpha,
                          n=cfg.memorization_k)
    order = np.argsort(result["distance"])[:cfg.pairs]
    pairs = [{"sample": int(i), "train_index": int(result["nearest"][i]), "distance": float(result["distance"][i]),
              "ratio": float(result["ratio"][i])} for i in order]
    picture = grid(np.stack([x for i in order for x in (checked[i], train[result["nearest"][i]])]), columns=2)
    summary = {"share": result["share"], "samples": len(checked), "alpha": cfg.memorization_alpha,
               "min_ratio": float(result["ratio"].min()), "median_distance": float(np.median(result["distance"]))}
    return summary, pairs, picture


def evaluate(job: Job) -> dict:
    """Write ``paths.metrics/evaluate.json`` and ``samples.json`` (the sample grid and closest pairs as base64 PNG,
    per-sample records) and ``samples.txt`` (the records as text); log them to the model's MLflow run.

    evaluate.json holds, for ``evaluate.num_samples`` samples of seed ``seed`` against as many test images,
    :func:`genforge.image.evaluation.scores` at the top level (``fid``, ``kid``, ``coverage``, ...), the same scores
    of held-out real images (``floor``: the val split, carved from train and never trained on) and of uniform noise
    (``ceiling``), ``relative`` (FID and KID placed between them: ``(score - floor) / (ceiling - floor)``, 0 at
    the floor, 1 at noise), ``negative_elbo_bits_per_dim`` (vae), ``memorization``, ``stability``, ``efficiency`` and
    ``gate`` (:func:`genforge.core.gate.check_gate` against ``evaluate.gate``).
    """
    set_threads(job.train)
    import keras

    cfg = job.evaluate
    folder, processed, metrics_dir = Path(job.paths.optimized), Path(job.paths.processed), Path(job.paths.metrics)
    network, spec = load_generator(folder)
    feature_net = keras.saving.load_model(processed / FEATURE_NET, compile=False)
    test, test_labels = load_split(processed / "test")
    val, _ = load_split(processed / "val")
    train, _ = load_split(processed / "train")
    n = min(cfg.num_samples, len(test), len(val))
    real = embed(feature_net, test[:n])

    def score(images):
        return scores(feature_net, real, images, num_classes=len(spec["classes"]), k=cfg.k,
                      kid_subsets=cfg.kid_subsets, kid_subset_size=min(cfg.kid_subset_size, n), seed=job.seed)

    samples = generate(network, spec, n, job.seed)
    result = {**score(samples), "samples": n, "floor": score(val[:n]),
              "ceiling": score(noise_images(n, test.shape[1:], job.seed))}
    result["relative"] = {key: (result[key] - result["floor"][key]) / (result["ceiling"][key] - result["floor"][key])
                          for key in ("fid", "kid")}
    if spec["arch"] == "vae":
        encoder = keras.saving.load_model(folder / ENCODER, compile=False)
        result["negative_elbo_bits_per_dim"] = negative_elbo_bits_per_dim(encoder, network, spec, test, test_labels,
                                                                          job.seed)
    result["memorization"], pairs, pairs_image = _memorization(job, samples, train)
    result["stability"] = _stability(job, network, spec, score)
    spread = seed_spread([result["fid"], *result["stability"].pop("fids")])
    result["stability"].update(fid_mean=spread["mean"], fid_std=spread["std"])
    result["efficiency"] = _efficiency(job, folder, network, spec)
    result["gate"] = check_gate(tracking.flatten(result), cfg.gate)
    _write(job, result, samples[:cfg.grid_images], pairs, pairs_image)
    _log(job, folder, result, metrics_dir)
    gate = result["gate"]
    return {"fid": round(result["fid"], 2), "classifier_score": round(result["classifier_score"], 3),
            "coverage": round(result["coverage"], 3),
            "gate": "passed" if gate["passed"] else "failed: " + "; ".join(gate["reasons"])}


def _efficiency(job: Job, folder: Path, network, spec: dict) -> dict:
    train_summary = read_json(Path(job.paths.metrics) / "train.json")
    out = {"parameters": train_summary.get("parameters", 0),
           "model_file_bytes": (folder / spec.get("network", GENERATOR)).stat().st_size,
           "train_images_per_second": train_summary.get("images_per_second", 0.0),
           "train_peak_rss_mib": train_summary.get("peak_rss_mib", 0.0)}
    for batch in (1, job.evaluate.speed_batch):
        speed = generation_speed(network, spec, batch=batch, runs=job.evaluate.latency_runs, seed=job.seed)
        out.update({f"batch_{batch}_{k}": v for k, v in speed.items()})
    out["evaluate_peak_rss_mib"] = peak_rss_mib()
    return out


def _write(job: Job, result: dict, shown: np.ndarray, pairs: list[dict], pairs_image: np.ndarray) -> None:
    metrics_dir = Path(job.paths.metrics)
    records = [{"index": i, "seed": job.seed} for i in range(len(shown))]
    write_json(metrics_dir / SAMPLES_JSON, {"seed": job.seed, "grid_png": png_base64(grid(shown)),
                                            "pairs_png": png_base64(pairs_image), "pairs": pairs,
                                            "samples": records})
    lines = [f"{len(shown)} samples of seed {job.seed} (grid: samples.json grid_png); closest to training images:"]
    lines += [f"sample {p['sample']}: training image {p['train_index']}, distance {p['distance']:.3f}, "
              f"ratio {p['ratio']:.3f}" for p in pairs]
    with atomic_path(metrics_dir / "samples.txt") as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_json(metrics_dir / "evaluate.json", result)


def _log(job: Job, folder: Path, result: dict, metrics_dir: Path) -> None:
    import base64
    import tempfile

    run_id = read_json(folder / tracking.RUN_FILE)["run_id"]
    flat = {k: v for k, v in tracking.flatten(result).items()
            if isinstance(v, int | float) and not k.startswith(("gate.", "efficiency.", "stability.", "memorization."))}
    tracking.log_metrics(run_id, flat, prefix="test/")
    for section in ("memorization", "stability", "efficiency"):
        tracking.log_metrics(run_id, {k: v for k, v in result[section].items() if isinstance(v, int | float)},
                             prefix=f"{section}/")
    gate = result["gate"]
    tracking.log_metrics(run_id, {"passed": gate["passed"]}, prefix="gate/")
    tracking.set_tags(run_id, {"gate.passed": str(gate["passed"]).lower(), "gate.reasons": "; ".join(gate["reasons"])
                               or "all checks passed"})
    saved = read_json(metrics_dir / SAMPLES_JSON)
    with tempfile.TemporaryDirectory() as tmp:
        for key, name in (("grid_png", "samples/grid.png"), ("pairs_png", "samples/closest_pairs.png")):
            path = Path(tmp) / Path(name).name
            path.write_bytes(base64.b64decode(saved[key]))
            tracking.log_artifact_as(run_id, path, name)
    tracking.log_artifact(run_id, metrics_dir / "samples.txt", "samples")
