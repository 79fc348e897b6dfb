"""train: fit an image-to-image generator (and, with ``train.baseline``, the L1-only U-Net of the same widths and
steps) on the training pairs, with input | output | target triplets of validation pairs after every epoch, tracked
in one MLflow run; save the generators and their spec."""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from pathlib import Path

from genforge import GenForgeError
from genforge.core import tracking
from genforge.core.config import Job
from genforge.core.efficiency import peak_rss_mib
from genforge.core.files import atomic_path, md5_file, read_json, write_json
from genforge.core.plots import epoch_samples_plot, write_curves
from genforge.core.runs import training_run
from genforge.core.trainer import is_chief, set_threads
from genforge.image2image.pictures import triplets
from genforge.image2image.store import BASELINE, save_generator
from genforge.image2image.training import DATASET, fit_translator, generator_of, load_pairs, spec, translate


def _fit(job: Job, cfg, data: tuple, checkpoint: Path, callbacks: list) -> tuple[object, dict, object]:
    """Fit ``cfg``'s model on ``data`` (the train and val pairs, and the number of target faces: 0 but for zi2zi);
    its generator, a summary and the training state.

    Raises:
        GenForgeError: a training loss became NaN or infinite.
    """
    train, val, faces = data
    start = time.perf_counter()
    model, state = fit_translator(cfg, train, val, seed=job.seed, callbacks=callbacks, checkpoint=checkpoint,
                                  faces=faces)
    seconds = time.perf_counter() - start
    bad = [loss for _, loss in state.step_losses if not math.isfinite(loss)]
    if bad:
        raise GenForgeError(f"a {cfg.arch} training loss became {bad[0]}; lower train.learning_rate")
    rows = state.history
    generator = generator_of(model)
    summary = {"epochs": rows[-1]["epoch"] if rows else 0, "steps": state.step,
               "loss": rows[-1].get("loss") if rows else None,
               "val_loss": min((r["val_loss"] for r in rows if "val_loss" in r), default=None),
               "seconds": round(seconds, 2),
               "pairs_per_second": round((state.step - state.resumed_from) * cfg.batch_size / seconds, 2),
               "parameters": int(generator.count_params()),
               **({"discriminator_parameters": int(model.discriminator.count_params())}
                  if hasattr(model, "discriminator") else {})}
    return generator, summary, state


def train(job: Job) -> dict:
    """Train, then write ``paths.trained`` (:mod:`genforge.image2image.store`: generator.keras, spec.json, with
    ``train.baseline`` baseline.keras; run.json with the MLflow run id) and ``paths.metrics/{train.json,
    train_history.csv, train_steps.csv, train_loss.png, train_samples.png}``. After every epoch the run gets the
    curves and the triplets (input | output | target) of ``train.sample_pairs`` validation pairs as the image series
    ``samples``; train_samples.png puts the epochs' triplets together. Resumes from ``paths.checkpoints`` as the
    other generators do. train.json holds the summary of the generator and, under ``baseline``, the baseline's.

    Raises:
        GenForgeError: before any training, when this process is a non-chief worker or the preprocessed data is
            missing; after, when a training loss became NaN or infinite.
    """
    set_threads(job.train)
    cfg = job.train
    if not is_chief():
        raise GenForgeError("TF_CONFIG makes this process a non-chief worker, which must not write the stage's "
                            "outputs; image-to-image generators train on one machine")
    processed = Path(job.paths.processed)
    train_data, val = load_pairs(processed, "train", job.name), load_pairs(processed, "val", job.name)
    data_md5 = md5_file(processed / "train_target.npy")
    fingerprint = hashlib.sha256(json.dumps([job.seed, cfg.model_dump(), data_md5]).encode()).hexdigest()[:16]
    dataset = read_json(processed / DATASET)  # how the pairs were made (not the preprocess params: not declared)
    params = {"seed": job.seed, "generator": job.name, "modality": job.modality, "data": job.data,
              "pairs": {k: dataset.get(k) for k in ("format", "size", "train_pairs", "val_pairs", "test_pairs")},
              "train": cfg.model_dump(mode="json")}
    tags = {"stage": "train", "data.train.md5": data_md5,
            "mlflow.note.content": f"**{job.name}**: a {cfg.arch} image-to-image generator on {dataset['format']} "
                                   f"pairs from {', '.join(job.data)} (training data digest `{data_md5}`), by the DVC "
                                   f"stage `train@{job.name}`.",
            **({"prefect.flow_run_id": os.environ["GENFORGE_FLOW_RUN_ID"]} if "GENFORGE_FLOW_RUN_ID" in os.environ
               else {})}
    # the first validation pairs; a zi2zi generator's spread over its faces (its pairs are face-major)
    stride = max(1, len(val[0]) // cfg.sample_pairs) if len(val) > 2 and cfg.sample_pairs else 1  # noqa: PLR2004
    shown = [a[::stride][:cfg.sample_pairs] for a in val]
    checkpoint = Path(job.paths.checkpoints) / fingerprint
    with training_run(checkpoint, job.experiment, params, tags) as run_id:
        tracking.log_datasets(run_id, {"training": processed / "train_target.npy",
                                       "validation": processed / "val_target.npy"}, job.name)
        logger = tracking.epoch_logger(run_id, image_fn=(lambda m: triplets(
            shown[0], translate(generator_of(m), shown[0], faces=shown[2] if len(shown) > 2 else None),  # noqa: PLR2004
            shown[1])) if len(shown[0]) else None)
        data = (train_data, val, len(dataset.get("target_faces", [])))
        generator, summary, state = _fit(job, cfg, data, checkpoint, [logger])
        baseline = _fit(job, cfg.model_copy(update={"arch": "unet_l1"}), data, Path(f"{checkpoint}-baseline"),
                        []) if cfg.baseline else None
        _write_outputs(job, run_id, generator, summary, state, baseline, dataset)
        epoch_samples_plot(logger.drawn, Path(job.paths.metrics) / "train_samples.png",
                           empty="no triplets: train.sample_pairs is 0")
        tracking.log_artifact(run_id, Path(job.paths.metrics) / "train_samples.png", "plots")
        for s in (state, *([baseline[2]] if baseline else [])):
            s.remove()
        tracking.end_run(run_id, "FINISHED")
    return {"run_id": run_id, **{k: summary[k] for k in ("epochs", "steps", "val_loss", "seconds")}}


def _write_outputs(job: Job, run_id: str, generator, summary: dict, state, baseline, dataset: dict) -> None:
    metrics_dir = Path(job.paths.metrics)
    model_spec = spec(job.train, generator.inputs[0].shape[1:], dataset)
    with atomic_path(job.paths.trained, is_dir=True) as tmp:
        save_generator(tmp, generator, model_spec)
        if baseline:
            baseline[0].save(tmp / BASELINE)
        write_json(tmp / tracking.RUN_FILE, {"run_id": run_id, "tracking_uri": tracking.tracking_uri()})
    summary["peak_rss_mib"] = round(peak_rss_mib(), 1)
    if baseline:
        summary["baseline"] = baseline[1]
    write_json(metrics_dir / "train.json", summary)
    write_curves(metrics_dir, state.history, state.step_losses, ["epoch", "loss", "val_loss", "gan_loss", "d_loss"],
                 [("loss", "L1"), ("val_loss", "val L1")], "L1 distance to the target (pixels in [-1, 1])")
    tracking.log_artifact(run_id, metrics_dir / "train_loss.png", "plots")
    tracking.log_metrics(run_id, {k: v for k, v in tracking.flatten(summary).items() if isinstance(v, int | float)},
                         prefix="train/")
