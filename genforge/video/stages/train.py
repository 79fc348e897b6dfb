"""train: fit a next-frame predictor on sequences drawn from the training data, with a strip of
generated validation frames after every epoch, tracked in one MLflow run; save the model and its spec."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.core import tracking
from genforge.core.config import Job
from genforge.core.efficiency import peak_rss_mib
from genforge.core.files import atomic_path, md5_file, write_json
from genforge.core.plots import epoch_samples_plot, write_curves
from genforge.core.runs import training_run
from genforge.core.trainer import is_chief, set_threads
from genforge.video.media import strip, to_uint8
from genforge.video.models import generate
from genforge.video.store import save_predictor
from genforge.video.training import DIGITS, TRAIN, VAL, fit_predictor, load_training_data, spec


def sample_strip(model, model_spec: dict, sequences: np.ndarray) -> np.ndarray:
    """For each of ``sequences`` (``uint8 (n, T, H, W, 1)``), two rows: its context then the generated frames, and
    its context then its true frames; one ``uint8`` picture (:func:`genforge.video.media.strip`)."""
    k = model_spec["context"]
    scaled = sequences.astype(np.float32) / 255
    generated = to_uint8(generate(model, model_spec, scaled[:, :k], sequences.shape[1] - k))
    rows = [row for s, g in zip(sequences, generated, strict=True) for row in (np.concatenate([s[:k], g]), s)]
    return strip(rows)


def train(job: Job) -> dict:
    """Train, then write ``paths.trained`` (:func:`genforge.video.store.save_predictor`, and run.json with the
    MLflow run id) and ``paths.metrics/{train.json, train_history.csv, train_steps.csv, train_loss.png,
    train_samples.png}``. After every epoch the run gets the curves and a strip of ``train.sample_sequences``
    validation sequences (each: context and generated frames above context and true frames) as the image series
    ``samples``; train_samples.png puts the epochs' strips together (the DVC image plot). Resumes from
    ``paths.checkpoints/<fingerprint>`` as the other generators do.

    Raises:
        GenForgeError: before any training, when this process is a non-chief worker or the preprocessed data is
            missing; after, when a training loss became NaN or infinite.
    """
    set_threads(job.train)
    cfg = job.train
    if not is_chief():
        raise GenForgeError("TF_CONFIG makes this process a non-chief worker, which must not write the stage's "
                            "outputs; video generators train on one machine (or MirroredStrategy over its GPUs)")
    processed = Path(job.paths.processed)
    source, val, pre = load_training_data(job)
    train_file = processed / (DIGITS if pre.format == "moving_mnist" else TRAIN)
    data_md5 = md5_file(train_file)
    fingerprint = hashlib.sha256(json.dumps([job.seed, cfg.model_dump(), asdict(pre), data_md5])
                                 .encode()).hexdigest()[:16]
    params = {"seed": job.seed, "generator": job.name, "modality": job.modality, "data": job.data,
              "sequences": asdict(pre), "train": cfg.model_dump(mode="json")}
    tags = {"stage": "train", "data.train.md5": data_md5,
            "mlflow.note.content": f"**{job.name}**: a next-frame {cfg.arch} predictor on {pre.format} sequences "
                                   f"from {', '.join(job.data)} (training data digest `{data_md5}`), by the DVC "
                                   f"stage `train@{job.name}`.",
            **({"prefect.flow_run_id": os.environ["GENFORGE_FLOW_RUN_ID"]} if "GENFORGE_FLOW_RUN_ID" in os.environ
               else {})}
    shown = val[:cfg.sample_sequences]
    model_spec = spec(cfg, pre)
    start = time.perf_counter()
    checkpoint = Path(job.paths.checkpoints) / fingerprint
    with training_run(checkpoint, job.experiment, params, tags) as run_id:
        tracking.log_datasets(run_id, {"training": train_file, "validation": processed / VAL}, job.name)
        logger = tracking.epoch_logger(run_id, image_fn=(lambda m: sample_strip(m, model_spec, shown))
                                       if len(shown) else None)
        model, state = fit_predictor(cfg, pre, source, val, seed=job.seed, callbacks=[logger],
                                     checkpoint=checkpoint)
        summary = _write_outputs(job, model, model_spec, state, run_id, time.perf_counter() - start)
        epoch_samples_plot(logger.drawn, Path(job.paths.metrics) / "train_samples.png",
                           empty="no strips: train.sample_sequences is 0")
        tracking.log_artifact(run_id, Path(job.paths.metrics) / "train_samples.png", "plots")
        state.remove()
        tracking.end_run(run_id, "FINISHED")
    return {"run_id": run_id, **summary}


def _write_outputs(job: Job, model, model_spec: dict, state, run_id: str, seconds: float) -> dict:
    import math

    cfg, metrics_dir = job.train, Path(job.paths.metrics)
    rows = state.history
    bad = [loss for _, loss in state.step_losses if not math.isfinite(loss)]
    if bad:
        raise GenForgeError(f"a training loss became {bad[0]}; lower train.learning_rate or set train.clipnorm")
    with atomic_path(job.paths.trained, is_dir=True) as tmp:
        save_predictor(tmp, model, model_spec)
        write_json(tmp / tracking.RUN_FILE, {"run_id": run_id, "tracking_uri": tracking.tracking_uri()})
    sequences = (state.step - state.resumed_from) * cfg.batch_size
    summary = {
        "epochs": rows[-1]["epoch"] if rows else 0,
        "steps": state.step,
        "loss": rows[-1].get("loss") if rows else None,
        "val_loss": min((r["val_loss"] for r in rows if "val_loss" in r), default=None),
        "seconds": round(seconds, 2),
        "sequences_per_second": round(sequences / seconds, 2) if rows else 0.0,
        "parameters": int(model.count_params()),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
    write_json(metrics_dir / "train.json", summary)
    write_curves(metrics_dir, rows, state.step_losses, ["epoch", "loss", "val_loss"],
                 [("loss", "loss"), ("val_loss", "val loss")], "binary cross-entropy (nats per pixel)")
    tracking.log_artifact(run_id, metrics_dir / "train_loss.png", "plots")
    tracking.log_metrics(run_id, {k: v for k, v in summary.items() if v is not None}, prefix="train/")
    return summary
