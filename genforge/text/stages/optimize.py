"""optimize: prune and quantize the trained model, export it to LiteRT, and measure every variant as a trade-off."""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

from genforge.core import tracking
from genforge.core.config import Job
from genforge.core.files import atomic_path, read_json, write_json
from genforge.core.plots import tradeoff_plot
from genforge.core.trainer import set_threads
from genforge.text.data import load_tokens
from genforge.text.efficiency import step_latency
from genforge.text.evaluation import score
from genforge.text.litert import LiteRTStepper, export_step_model
from genforge.text.models import METHODS, arch_of, load_generator, model_file, save_generator
from genforge.text.pruning import prune_model
from genforge.text.sampling import make_stepper

LITERT_FOLDER = "litert"
# Keras quantizes the Dense layers inside the GPT's TransformerBlock, but a saved model rebuilds them unquantized from
# the block's config, so loading fails ("Layer 'c_attn' expected 2 variables, but received 3")
KERAS_INT8_GPT = ("Keras's quantize('int8') of a GPT does not load back: the Dense layers inside its blocks are "
                  "rebuilt unquantized")
COLUMNS = ("variant", "file", "size_bytes", "latency_ms_p50", "latency_ms_p95", "cross_entropy", "bits_per_unit",
           "accuracy", "bits_change_pct", "size_ratio", "speedup", "test_score")


def _measure(stepper, model, test, job: Job, unit: str) -> dict:
    """Test-split accuracy (the evaluate stage's :func:`genforge.text.evaluation.score`) and batch-1 per-token
    latency."""
    metrics = score(model, test, context=job.evaluate.context, unit=unit)
    bits = metrics.get("bits_per_character", metrics.get("bits_per_byte"))
    return {**step_latency(stepper, tokens=job.optimize.latency_tokens, first_token=int(test[0])),
            "cross_entropy": metrics["cross_entropy"], "bits_per_unit": bits, "accuracy": metrics["accuracy"],
            "test_score": bits}  # the y of dvc.yaml's trade-off plot, every modality's ranked test figure


def optimize(job: Job) -> dict:
    """Write ``paths.optimized`` (the model later stages use, plus ``litert/model_<kind>.tflite``) and
    ``paths.metrics/{optimize.json, optimize_tradeoff.csv, optimize_tradeoff.png}``; log them to the model's run.

    1. ``optimize.prune.sparsity > 0``: :func:`genforge.text.pruning.prune_model` fine-tunes the trained model while
       pruning every kernel and recurrent kernel to that sparsity; the achieved sparsity per weight is reported.
    2. The (pruned) model is written with ``optimize.method`` (:func:`genforge.text.models.save_generator`).
    3. Each ``optimize.litert`` kind is exported (:func:`genforge.text.litert.export_step_model`).

    Every variant (``dense``: the trained model; ``pruned``; each method of the (pruned) model; each LiteRT kind) is
    scored on the test split and timed at batch 1. ``bits_change_pct``, ``size_ratio`` and ``speedup`` compare it with
    ``dense``; each LiteRT kind also has ``speedup_vs_litert_float32``.
    """
    set_threads(job.train)  # TensorFlow's thread pools, before the stage runs any op
    cfg = job.optimize
    trained, metrics_dir = Path(job.paths.trained), Path(job.paths.metrics)
    model, tokenizer = load_generator(trained)
    test = load_tokens(Path(job.paths.processed) / "test.npy")
    rows: list[dict] = []

    def add(variant: str, folder_file: Path, stepper, scored) -> None:
        rows.append({"variant": variant, "file": folder_file.name, "size_bytes": folder_file.stat().st_size,
                     **_measure(stepper, scored, test, job, tokenizer.unit)})

    result: dict = {"method": cfg.method, "prune": {"sparsity_target": cfg.prune.sparsity}}
    with atomic_path(job.paths.optimized, is_dir=True) as tmp:
        scratch = tmp / "variants"
        (scratch / "dense").mkdir(parents=True)
        save_generator(scratch / "dense", model, tokenizer)
        add("dense", model_file(scratch / "dense"), make_stepper(model), model)
        if cfg.prune.sparsity > 0:
            start = time.perf_counter()
            train_tokens = load_tokens(Path(job.paths.processed) / "train.npy")
            layers = prune_model(model, cfg.prune, job.train, train_tokens, seed=job.seed + 1)
            result["prune"].update(steps=cfg.prune.steps, seconds=round(time.perf_counter() - start, 2),
                                   sparsity=layers)
        for method in METHODS:
            if method == "keras_int8" and arch_of(model) == "gpt":
                result["keras_int8_skipped"] = KERAS_INT8_GPT
                continue
            folder = tmp if method == cfg.method else scratch / method
            folder.mkdir(parents=True, exist_ok=True)
            save_generator(folder, model, tokenizer, method=method)
            if method == "none" and cfg.prune.sparsity == 0:
                continue  # the dense model itself
            variant, _ = load_generator(folder)
            add("pruned" if method == "none" else method, model_file(folder), make_stepper(variant), variant)
        (tmp / LITERT_FOLDER).mkdir()
        if cfg.litert and arch_of(model) != "lstm":
            result["litert_skipped"] = f"the LiteRT step export covers the LSTM only, not arch {arch_of(model)}"
        for kind in cfg.litert if arch_of(model) == "lstm" else ():
            path = tmp / LITERT_FOLDER / f"model_{kind}.tflite"
            path.write_bytes(export_step_model(model, kind))
            stepper = LiteRTStepper(path)
            add(f"litert_{kind}", path, stepper, stepper)
        shutil.rmtree(scratch)
        shutil.copyfile(trained / tracking.RUN_FILE, tmp / tracking.RUN_FILE)
        result["model_file"] = model_file(tmp).name

    dense = rows[0]
    for row in rows:
        row["bits_change_pct"] = 100 * (row["bits_per_unit"] / dense["bits_per_unit"] - 1)
        row["size_ratio"] = dense["size_bytes"] / row["size_bytes"]
        row["speedup"] = dense["latency_ms_p50"] / row["latency_ms_p50"]
    by_name = {row["variant"]: row for row in rows}
    if "litert_float32" in by_name:
        if cfg.litert and arch_of(model) != "lstm":
            result["litert_skipped"] = f"the LiteRT step export covers the LSTM only, not arch {arch_of(model)}"
        for kind in cfg.litert if arch_of(model) == "lstm" else ():
            by_name[f"litert_{kind}"]["speedup_vs_litert_float32"] = (
                by_name["litert_float32"]["latency_ms_p50"] / by_name[f"litert_{kind}"]["latency_ms_p50"])
    result["variants"] = {row["variant"]: {k: v for k, v in row.items() if k != "variant"} for row in rows}
    write_json(metrics_dir / "optimize.json", result)
    with atomic_path(metrics_dir / "optimize_tradeoff.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tradeoff_plot(rows, "bits_per_unit", "test bits per unit", "batch-1 latency per token (ms, log scale)",
                  metrics_dir / "optimize_tradeoff.png")

    run_id = read_json(trained / tracking.RUN_FILE)["run_id"]
    numbers = {f"{row['variant']}/{k}": v for row in rows for k, v in row.items() if isinstance(v, int | float)}
    numbers.update({f"prune/sparsity/{k}": v for k, v in result["prune"].get("sparsity", {}).items()})
    tracking.log_metrics(run_id, numbers, prefix="optimize/")
    tracking.log_table(run_id, {c: [row.get(c) for row in rows] for c in COLUMNS}, "optimize/tradeoff.json")
    tracking.log_artifact(run_id, metrics_dir / "optimize_tradeoff.png", "optimize")
    tracking.set_tags(run_id, {"optimize.method": cfg.method, "optimize.prune.sparsity": cfg.prune.sparsity})
    chosen = by_name.get(cfg.method if cfg.method != "none" else "pruned", dense)
    return {"method": cfg.method, "sparsity": result["prune"].get("sparsity", {}).get("total", 0.0),
            "bits_per_unit": chosen["bits_per_unit"], "bits_change_pct": chosen["bits_change_pct"],
            "size_bytes": chosen["size_bytes"], "variants": len(rows)}
