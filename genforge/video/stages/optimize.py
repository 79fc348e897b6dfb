"""optimize: prune the trained predictor by magnitude during a short fine-tune, measure each variant by the evaluate
stage's scores (SSIM, MSE of closed-loop generation on test sequences), its size and its latency, and ship the one
``optimize.method`` names."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import numpy as np

from genforge.core.config import Job
from genforge.core.efficiency import percentile
from genforge.core.files import atomic_path
from genforge.core.pixel_metrics import mse, ssim
from genforge.core.pruning import pruning_callback, sparsity_report
from genforge.core.trainer import set_threads
from genforge.core.variants import write_variants
from genforge.video.models import generate
from genforge.video.store import PREDICTOR, load_predictor
from genforge.video.training import TEST, build_predictor, load_training_data, training_dataset

COLUMNS = ("variant", "file", "size_bytes", "latency_ms_p50", "ssim", "mse", "ssim_change", "size_ratio", "speedup",
           "test_score")


def _pruned(job: Job, model):
    """A copy of ``model`` fine-tuned ``prune.steps`` steps at ``prune.learning_rate`` on freshly drawn training
    sequences while :func:`genforge.core.pruning.pruning_callback` raises every kernel's sparsity to
    ``prune.sparsity``; and its sparsity report."""
    cfg, train_cfg = job.optimize.prune, job.train
    source, _, pre = load_training_data(job)
    pruned = build_predictor(train_cfg.model_copy(update={"learning_rate": cfg.learning_rate}),
                             (pre.size, pre.size, 1), train_cfg.rollout, job.seed + 1)
    pruned.set_weights(model.get_weights())
    # the fine-tune's batches come after every step the train stage drew (a stream of its own)
    first = train_cfg.epochs * train_cfg.steps_per_epoch
    data = training_dataset(source, pre, train_cfg, seed=job.seed, start_step=first, stop_step=first + cfg.steps)
    pruned.fit(data, epochs=1, steps_per_epoch=cfg.steps, verbose=1 if sys.stdout.isatty() else 2,
               callbacks=[pruning_callback(target=cfg.sparsity, schedule_steps=cfg.schedule_steps,
                                           frequency=cfg.frequency, power=cfg.power)])
    return pruned, sparsity_report(pruned)


def _measure(job: Job, variant: str, path: Path, model, spec: dict, test: np.ndarray) -> dict:
    k = spec["context"]
    scaled = test.astype(np.float32) / 255
    generated = generate(model, spec, scaled[:, :k], scaled.shape[1] - k)
    times = []
    for _ in range(job.evaluate.latency_runs):
        start = time.perf_counter()
        generate(model, spec, scaled[:1, :k], spec["horizon"])
        times.append((time.perf_counter() - start) * 1000 / spec["horizon"])
    error = float(mse(generated, scaled[:, k:]).mean())
    return {"variant": variant, "file": path.name, "size_bytes": path.stat().st_size,
            "latency_ms_p50": percentile(times, 50), "ssim": float(ssim(generated, scaled[:, k:]).mean()),
            "mse": error, "test_score": error}


def optimize(job: Job) -> dict:
    """Write ``paths.optimized`` (the trained folder; with ``optimize.method`` ``pruned``, its predictor.keras is the
    pruned model) and ``paths.metrics/{optimize.json, optimize_tradeoff.csv, optimize_tradeoff.png}``.

    With ``optimize.prune.sparsity`` > 0 a pruned variant is made (:func:`_pruned`). Every variant generates the
    frames after the context of the first ``optimize.num_sequences`` test sequences, scored by mean SSIM and MSE
    (``test_score``: the MSE, lower is better) and timed at batch 1 (milliseconds per generated frame);
    ``ssim_change``, ``size_ratio`` and ``speedup`` compare it with ``dense``. The file sizes are those of the
    saved Keras files: pruning zeroes weights without shrinking the file (a compressed archive would).
    """
    set_threads(job.train)
    cfg = job.optimize
    trained = Path(job.paths.trained)
    model, spec = load_predictor(trained)
    test = np.load(Path(job.paths.processed) / TEST)[:cfg.num_sequences]
    result = {"method": cfg.method, "num_sequences": len(test), "prune": {"sparsity_target": cfg.prune.sparsity}}
    with atomic_path(job.paths.optimized, is_dir=True) as tmp:
        shutil.copytree(trained, tmp, dirs_exist_ok=True)
        rows = [_measure(job, "dense", tmp / PREDICTOR, model, spec, test)]
        if cfg.prune.sparsity > 0:
            pruned, result["prune"]["sparsity"] = _pruned(job, model)
            (tmp / "pruned").mkdir()
            pruned.save(tmp / "pruned" / PREDICTOR)
            rows.append(_measure(job, "pruned", tmp / "pruned" / PREDICTOR, pruned, spec, test))
            if cfg.method == "pruned":
                shutil.move(tmp / "pruned" / PREDICTOR, tmp / PREDICTOR)
            shutil.rmtree(tmp / "pruned")
    dense = rows[0]
    for row in rows:
        row["ssim_change"] = row["ssim"] - dense["ssim"]
        row["size_ratio"] = dense["size_bytes"] / row["size_bytes"]
        row["speedup"] = dense["latency_ms_p50"] / row["latency_ms_p50"]
    result["variants"] = {r["variant"]: {k: v for k, v in r.items() if k != "variant"} for r in rows}
    write_variants(job, result, rows, COLUMNS, score="mse", score_label="MSE of generated frames",
                   latency_label="batch-1 latency per frame (ms, log scale)")
    chosen = next(r for r in rows if r["variant"] == ("pruned" if cfg.method == "pruned" else "dense"))
    return {"method": cfg.method, "ssim": round(chosen["ssim"], 4), "ssim_change": round(chosen["ssim_change"], 4),
            "variants": len(rows)}
