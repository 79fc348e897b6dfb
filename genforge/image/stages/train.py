"""train: fit an image generator on the training split, with a fixed-seed sample grid after every epoch, tracked in
one MLflow run; save its generator network and sampling spec."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from genforge import GenForgeError
from genforge.core import tracking
from genforge.core.config import Job
from genforge.core.efficiency import peak_rss_mib
from genforge.core.files import atomic_path, write_json
from genforge.core.plots import epoch_samples_plot, write_curves
from genforge.core.runs import training_run
from genforge.core.trainer import is_chief, set_threads
from genforge.image.grid import grid
from genforge.image.sampling import generate
from genforge.image.shards import INDEX, split_digest
from genforge.image.stages.preprocess import SPLITS
from genforge.image.store import save_generator
from genforge.image.training import fit_generator, load_training_splits, spec

LOSS_LABEL = {"vae": "negative ELBO (nats/image)", "gan": "binary cross-entropy", "diffusion": "noise MSE"}


def train(job: Job) -> dict:
    """Train, then write ``paths.trained`` (:func:`genforge.image.store.save_generator`, and run.json with the
    MLflow run id) and ``paths.metrics/{train.json, train_history.csv, train_steps.csv, train_loss.png,
    train_samples.png}``. After every epoch the run gets the curves (``curves/*``) and a grid of
    ``train.grid_images`` samples of one fixed seed (the image series ``samples``); train_samples.png puts the
    epochs' grids side by side (the DVC image plot). Resumes from ``paths.checkpoints/<fingerprint>`` as the text
    generators do.

    Raises:
        GenForgeError: before any training, when this process is a non-chief worker, a split is missing or too
            small, or another trainer holds the checkpoint folder.
    """
    set_threads(job.train)
    cfg = job.train
    if not is_chief():
        raise GenForgeError("TF_CONFIG makes this process a non-chief worker, which must not write the stage's "
                            "outputs; image generators train on one machine (or MirroredStrategy over its GPUs)")
    processed = Path(job.paths.processed)
    splits, classes = load_training_splits(job)
    data_md5 = split_digest(processed / "train")
    fingerprint = hashlib.sha256(json.dumps([job.seed, cfg.model_dump(), data_md5]).encode()).hexdigest()[:16]
    params = {"seed": job.seed, "generator": job.name, "modality": job.modality, "data": job.data,
              "train": cfg.model_dump(mode="json")}
    tags = {"stage": "train", "data.train.md5": data_md5, "mlflow.note.content": _description(job, data_md5),
            **({"prefect.flow_run_id": os.environ["GENFORGE_FLOW_RUN_ID"]} if "GENFORGE_FLOW_RUN_ID" in os.environ
               else {})}

    def sample_grid(model):
        return grid(generate(model.network, spec(model, cfg), cfg.grid_images, job.seed))

    start = time.perf_counter()
    checkpoint = Path(job.paths.checkpoints) / fingerprint
    with training_run(checkpoint, job.experiment, params, tags) as run_id:
        tracking.log_datasets(run_id, {f"{'training' if s == 'train' else 'validation' if s == 'val' else s}":
                                       processed / s / INDEX for s in SPLITS}, job.name)
        logger = tracking.epoch_logger(run_id, image_fn=sample_grid if cfg.grid_images else None)
        model, state = fit_generator(cfg, splits, len(classes), seed=job.seed, callbacks=[logger],
                                     checkpoint=checkpoint)
        summary = _write_outputs(job, model, classes, state, run_id, time.perf_counter() - start)
        epoch_samples_plot(logger.drawn, Path(job.paths.metrics) / "train_samples.png",
                           empty="no sample grids: train.grid_images is 0")
        tracking.log_artifact(run_id, Path(job.paths.metrics) / "train_samples.png", "plots")
        state.remove()
        tracking.end_run(run_id, "FINISHED")
    return {"run_id": run_id, **summary}


def _description(job: Job, data_md5: str) -> str:
    cfg = job.train
    kind = f"{'class-conditional ' if cfg.conditional else ''}{cfg.arch}"
    return (f"**{job.name}**: an image generator, {kind} (widths {list(cfg.widths)}), trained on "
            f"{', '.join(job.data)} (`{Path(job.paths.processed) / 'train'}`, digest `{data_md5}`) for up to "
            f"{cfg.epochs} epochs with seed {job.seed}, by the DVC stage `train@{job.name}` of `dvc.yaml`. The "
            "optimize, evaluate and register stages add their metrics, the logged model and the gate's decision.")


def _write_outputs(job: Job, model, classes: list[str], state, run_id: str, seconds: float) -> dict:
    cfg, metrics_dir = job.train, Path(job.paths.metrics)
    rows = state.history
    with atomic_path(job.paths.trained, is_dir=True) as tmp:
        save_generator(tmp, model.network, spec(model, cfg), classes,
                       encoder=model.encoder if cfg.arch == "vae" else None)
        write_json(tmp / tracking.RUN_FILE, {"run_id": run_id, "tracking_uri": tracking.tracking_uri()})
    images = (state.step - state.resumed_from) * cfg.batch_size
    summary = {
        "epochs": rows[-1]["epoch"] if rows else 0,
        "steps": state.step,
        "loss": rows[-1].get("loss", rows[-1].get("g_loss")) if rows else None,
        "val_loss": min((r["val_loss"] for r in rows if "val_loss" in r), default=None),
        "seconds": round(seconds, 2),
        "images_per_second": round(images / seconds, 1) if rows else 0.0,
        "parameters": int(model.network.count_params()),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
    write_json(metrics_dir / "train.json", summary)
    keys = sorted({k for r in rows for k in r} - {"epoch", "loss", "val_loss"})
    write_curves(metrics_dir, rows, state.step_losses, ["epoch", "loss", "val_loss", *keys],
                 [(k, k.replace("_", " ")) for k in ("loss", "val_loss", "d_loss", "g_loss", "val_d_loss",
                                                     "val_g_loss")],
                 LOSS_LABEL[cfg.arch])
    tracking.log_artifact(run_id, metrics_dir / "train_loss.png", "plots")
    tracking.log_metrics(run_id, {k: v for k, v in summary.items() if v is not None}, prefix="train/")
    return summary
