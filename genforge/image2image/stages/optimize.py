"""optimize: prune the trained generator by magnitude during a short fine-tune, store it with int8 weights and export
it to LiteRT; measure each variant by the evaluate stage's scores (L1 and SSIM on the test pairs), its size and its
latency, and ship the one ``optimize.method`` names."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from genforge.core.config import Job
from genforge.core.efficiency import percentile
from genforge.core.files import atomic_path
from genforge.core.litert import LiteRTNetwork, export
from genforge.core.pruning import pruning_callback, sparsity_report
from genforge.core.trainer import set_threads
from genforge.core.variants import write_variants
from genforge.image2image.metrics import pair_scores
from genforge.image2image.quantize import load_int8, save_int8
from genforge.image2image.store import GENERATOR, INT8, load_generator
from genforge.image2image.training import load_pairs, model_inputs, training_dataset, translate

LITERT_FOLDER = "litert"  # in paths.optimized: generator_<kind>.tflite per optimize.litert kind
COLUMNS = ("variant", "file", "size_bytes", "latency_ms_p50", "l1", "ssim", "ssim_change", "size_ratio", "speedup",
           "test_score")


def _pruned(job: Job, generator):
    """A copy of ``generator`` fine-tuned ``prune.steps`` steps on the L1 loss alone (the discriminator is not
    kept after training) at ``prune.learning_rate`` while :func:`genforge.core.pruning.pruning_callback` raises every
    kernel's sparsity to ``prune.sparsity``; and its sparsity report."""
    import keras

    cfg, train_cfg = job.optimize.prune, job.train
    pruned = keras.models.clone_model(generator)
    pruned.set_weights(generator.get_weights())
    pruned.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate, beta_1=train_cfg.beta_1),
                   loss="mean_absolute_error")
    first = train_cfg.epochs * train_cfg.steps_per_epoch  # batches after every step the train stage drew
    x, y, *faces = load_pairs(job.paths.processed, "train", job.name)
    data = training_dataset(x, y, train_cfg, seed=job.seed, start_step=first, stop_step=first + cfg.steps,
                            faces=faces[0] if faces else None)
    pruned.fit(data, epochs=1, steps_per_epoch=cfg.steps, verbose=1 if sys.stdout.isatty() else 2,
               callbacks=[pruning_callback(target=cfg.sparsity, schedule_steps=cfg.schedule_steps,
                                           frequency=cfg.frequency, power=cfg.power)])
    return pruned, sparsity_report(pruned)


def _without_optimizer(model):
    """An uncompiled copy of ``model`` with its weights: saved, it holds no optimizer state (a third of the size).
    Built from the model's config: Keras 3's ``clone_model`` compiles the clone of a compiled model, optimizer and
    all."""
    import keras

    copy = keras.Model.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def _measure(job: Job, variant: str, path: Path, generator, test: tuple) -> dict:
    """The row of one variant: its file's size, its batch-1 latency (median of ``evaluate.latency_runs`` calls, ms)
    and the mean L1 and SSIM of its test outputs. ``generator`` is a Keras model or a LiteRT network; ``test`` is
    :func:`~genforge.image2image.training.load_pairs`'s."""
    x, y, *faces = test
    faces = faces[0] if faces else None
    scores = pair_scores(translate(generator, x, faces=faces), y)
    run = (lambda b: generator(b, training=False)) if hasattr(generator, "predict") else generator
    first = model_inputs(x[:1], None if faces is None else faces[:1])
    times = []
    for _ in range(job.evaluate.latency_runs):
        start = time.perf_counter()
        run(first)
        times.append((time.perf_counter() - start) * 1000)
    return {"variant": variant, "file": path.name, "size_bytes": path.stat().st_size,
            "latency_ms_p50": percentile(times, 50), "l1": float(scores["l1"].mean()),
            "ssim": float(scores["ssim"].mean()), "test_score": float(scores["l1"].mean())}


def optimize(job: Job) -> dict:
    """Write ``paths.optimized`` (the trained folder; with ``optimize.method`` ``pruned``, its generator.keras is
    the pruned generator) and ``paths.metrics/{optimize.json, optimize_tradeoff.csv, optimize_tradeoff.png}``.

    With ``optimize.prune.sparsity`` > 0 a pruned variant is made (:func:`_pruned`); the dense generator is also
    stored with weight-only int8 kernels (``generator.int8.npz``, :mod:`genforge.image2image.quantize`) and measured
    dequantized, and exported to LiteRT as each ``optimize.litert`` kind (``litert/generator_<kind>.tflite``: float16
    weights, or dynamic-range int8; :mod:`genforge.core.litert`) and run by the LiteRT interpreter. Every variant
    translates the test pairs, scored by mean L1 (``test_score``, lower is better) and SSIM, and is timed at batch 1
    (milliseconds per image); ``ssim_change``, ``size_ratio`` and ``speedup`` compare it with ``dense``. File sizes
    are those of the saved files: pruning zeroes weights without shrinking the file (a compressed archive would).
    """
    set_threads(job.train)
    cfg = job.optimize
    trained = Path(job.paths.trained)
    generator, _ = load_generator(trained)
    test = load_pairs(job.paths.processed, "test", job.name)
    result = {"method": cfg.method, "pairs": len(test[0]), "prune": {"sparsity_target": cfg.prune.sparsity}}
    with atomic_path(job.paths.optimized, is_dir=True) as tmp:
        shutil.copytree(trained, tmp, dirs_exist_ok=True)
        rows = [_measure(job, "dense", tmp / GENERATOR, generator, test)]
        if cfg.prune.sparsity > 0:
            pruned, result["prune"]["sparsity"] = _pruned(job, generator)
            (tmp / "pruned").mkdir()
            _without_optimizer(pruned).save(tmp / "pruned" / GENERATOR)
            rows.append(_measure(job, "pruned", tmp / "pruned" / GENERATOR, pruned, test))
            if cfg.method == "pruned":
                shutil.move(tmp / "pruned" / GENERATOR, tmp / GENERATOR)
            shutil.rmtree(tmp / "pruned")
        save_int8(generator, tmp / INT8)  # measured beside the others; the shipped generator stays a Keras file
        rows.append(_measure(job, "int8", tmp / INT8, load_int8(generator, tmp / INT8), test))
        if cfg.litert:
            (tmp / LITERT_FOLDER).mkdir()
        for kind in cfg.litert:
            path = tmp / LITERT_FOLDER / f"generator_{kind}.tflite"
            path.write_bytes(export(generator, kind))
            rows.append(_measure(job, f"litert_{kind}", path, LiteRTNetwork(path), test))
    dense = rows[0]
    for row in rows:
        row["ssim_change"] = row["ssim"] - dense["ssim"]
        row["size_ratio"] = dense["size_bytes"] / row["size_bytes"]
        row["speedup"] = dense["latency_ms_p50"] / row["latency_ms_p50"]
    result["variants"] = {r["variant"]: {k: v for k, v in r.items() if k != "variant"} for r in rows}
    write_variants(job, result, rows, COLUMNS, score="l1", score_label="L1 of the test outputs",
                   latency_label="batch-1 latency per image (ms, log scale)")
    chosen = next(r for r in rows if r["variant"] == ("pruned" if cfg.method == "pruned" else "dense"))
    return {"method": cfg.method, "ssim": round(chosen["ssim"], 4), "ssim_change": round(chosen["ssim_change"], 4),
            "variants": len(rows)}
