"""optimize: export the trained generator network to LiteRT (float32, float16, int8), measure every variant by the
evaluate stage's FID and KID, its size and its latency, and ship the one ``optimize.method`` names."""

from __future__ import annotations

import shutil
from pathlib import Path

from genforge.core.config import Job
from genforge.core.files import atomic_path, write_json
from genforge.core.litert import LiteRTNetwork, export
from genforge.core.trainer import set_threads
from genforge.core.variants import write_variants
from genforge.image.evaluation import generation_speed, scores
from genforge.image.features import embed
from genforge.image.sampling import generate
from genforge.image.shards import load_split
from genforge.image.stages.preprocess import FEATURE_NET
from genforge.image.store import ENCODER, GENERATOR, SPEC, load_generator

COLUMNS = ("variant", "file", "size_bytes", "latency_ms_p50", "latency_ms_p95", "fid", "kid", "fid_change_pct",
           "size_ratio", "speedup", "test_score")
LITERT_FOLDER = "litert"


def optimize(job: Job) -> dict:
    """Write ``paths.optimized`` (the trained folder, plus ``litert/generator_<kind>.tflite`` for each
    ``optimize.litert`` kind; with ``optimize.method`` ``pruned``, its generator.keras is the pruned network; with
    ``litert_<kind>``, its spec names that file as the network the later stages use) and
    ``paths.metrics/{optimize.json, optimize_tradeoff.csv, optimize_tradeoff.png}``.

    With ``optimize.prune.sparsity`` > 0 the network is pruned (:func:`genforge.image.pruning.prune_network`) and the
    LiteRT variants are exported from the pruned network (prune, then quantize); the sparsity reached per kernel
    is in optimize.json. Every variant (``dense``: the Keras network; ``pruned``; each LiteRT kind) draws
    ``optimize.num_samples`` images with seed ``seed`` that are scored against as many test images
    (:func:`genforge.image.evaluation.scores`) and timed at batch 1; ``fid_change_pct``, ``size_ratio`` and
    ``speedup`` compare it with ``dense``; ``test_score`` is its FID.
    """
    set_threads(job.train)
    import keras

    cfg = job.optimize
    trained, processed = Path(job.paths.trained), Path(job.paths.processed)
    network, spec = load_generator(trained)
    feature_net = keras.saving.load_model(processed / FEATURE_NET, compile=False)
    test, _ = load_split(processed / "test")
    n = min(cfg.num_samples, len(test))
    real = embed(feature_net, test[:n])
    kinds = sorted(set(cfg.litert) | ({cfg.method[7:]} if cfg.method.startswith("litert_") else set()))
    rows = []

    def add(variant: str, path: Path, net) -> None:
        s = scores(feature_net, real, generate(net, spec, n, job.seed), num_classes=len(spec["classes"]),
                   k=job.evaluate.k, kid_subsets=job.evaluate.kid_subsets,
                   kid_subset_size=min(job.evaluate.kid_subset_size, n), seed=job.seed)
        speed = generation_speed(net, spec, batch=1, runs=job.evaluate.latency_runs, seed=job.seed)
        rows.append({"variant": variant, "file": path.name, "size_bytes": path.stat().st_size, "fid": s["fid"],
                     "kid": s["kid"], "test_score": s["fid"], "latency_ms_p50": speed["latency_ms_p50"],
                     "latency_ms_p95": speed["latency_ms_p95"]})

    result = {"method": cfg.method, "num_samples": n, "prune": {"sparsity_target": cfg.prune.sparsity}}
    with atomic_path(job.paths.optimized, is_dir=True) as tmp:
        shutil.copytree(trained, tmp, dirs_exist_ok=True)
        add("dense", tmp / GENERATOR, network)
        base = network
        if cfg.prune.sparsity > 0:
            base, result["prune"]["sparsity"] = _pruned(job, trained, network, spec)
            (tmp / "pruned").mkdir()
            base.save(tmp / "pruned" / GENERATOR)
            add("pruned", tmp / "pruned" / GENERATOR, base)
            if cfg.method == "pruned":
                shutil.move(tmp / "pruned" / GENERATOR, tmp / GENERATOR)
            shutil.rmtree(tmp / "pruned")
        (tmp / LITERT_FOLDER).mkdir()
        for kind in kinds:
            path = tmp / LITERT_FOLDER / f"generator_{kind}.tflite"
            path.write_bytes(export(base, kind))
            add(f"litert_{kind}", path, LiteRTNetwork(path))
        if cfg.method.startswith("litert_"):
            write_json(tmp / SPEC, {**spec, "network": f"{LITERT_FOLDER}/generator_{cfg.method[7:]}.tflite"})
    dense = rows[0]
    for row in rows:
        row["fid_change_pct"] = 100 * (row["fid"] / dense["fid"] - 1)
        row["size_ratio"] = dense["size_bytes"] / row["size_bytes"]
        row["speedup"] = dense["latency_ms_p50"] / row["latency_ms_p50"]
    result["variants"] = {r["variant"]: {k: v for k, v in r.items() if k != "variant"} for r in rows}
    write_variants(job, result, rows, COLUMNS, score="fid", score_label="FID (feature network)",
                   latency_label="batch-1 latency per image (ms, log scale)")
    chosen = next(r for r in rows if r["variant"] == (cfg.method if cfg.method != "none" else "dense"))
    return {"method": cfg.method, "sparsity": round(result["prune"].get("sparsity", {}).get("total", 0.0), 3),
            "fid": round(chosen["fid"], 3), "fid_change_pct": round(chosen["fid_change_pct"], 2),
            "size_bytes": chosen["size_bytes"], "variants": len(rows)}


def _pruned(job: Job, trained: Path, network, spec: dict):
    """The pruned network and its sparsity report (:func:`genforge.image.pruning.prune_network`)."""
    import keras

    from genforge.image.pruning import prune_network
    from genforge.image.training import load_training_splits

    encoder = keras.saving.load_model(trained / ENCODER, compile=False) if (trained / ENCODER).exists() else None
    splits, classes = load_training_splits(job)
    return prune_network(job, network, encoder, splits, len(classes), seed=job.seed + 1)
