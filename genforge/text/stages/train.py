"""train: fit the LSTM generator on the training split, checkpointing every epoch, tracked in one MLflow run."""

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
from genforge.core.files import atomic_path, md5_file, write_json
from genforge.core.plots import epoch_samples_plot, write_curves
from genforge.core.runs import training_run
from genforge.core.trainer import distribution_strategy, is_chief, set_threads
from genforge.text.data import check_length, load_tokens
from genforge.text.models import save_generator
from genforge.text.sampling import generate
from genforge.text.tokenizers import load_tokenizer
from genforge.text.training import build_generator, fit_generator


def train(job: Job) -> dict:
    """Train, then write ``paths.trained`` (model.keras, tokenizer.json, run.json with the MLflow run id) and
    ``paths.metrics/{train.json, train_history.csv, train_loss.png, train_samples.png}``.

    Resumes exactly from ``paths.checkpoints/<fingerprint>`` (saved every ``train.checkpoint_steps`` steps, see
    :class:`genforge.core.checkpoint.TrainingState`) when a run with the same params and data was interrupted, in
    the same MLflow run (:func:`genforge.core.runs.training_run`).

    Raises:
        GenForgeError: before any training, when a split is shorter than one window, this process is a non-chief
            worker of a ``TF_CONFIG`` cluster, or another trainer holds the checkpoint folder (named with its PID).
    """
    set_threads(job.train)  # TensorFlow's thread pools, before the stage runs any op
    import keras

    cfg = job.train
    if not is_chief():
        raise GenForgeError("TF_CONFIG makes this process a non-chief worker, which must not write the stage's "
                            "outputs: run `python -m genforge.text.training <generator>` on it (the same training, "
                            "nothing written) and the train stage on the chief")
    processed = Path(job.paths.processed)
    tokenizer = load_tokenizer(processed / "tokenizer.json")
    train_tokens = load_tokens(processed / "train.npy")
    val_tokens = load_tokens(processed / "val.npy")
    check_length(train_tokens, cfg.seq_len, "train")  # before an MLflow run is created
    check_length(val_tokens, cfg.seq_len, "val")
    data_md5 = md5_file(processed / "train.npy")

    keras.utils.set_random_seed(job.seed)
    with distribution_strategy().scope():
        model = build_generator(cfg, tokenizer.vocab_size)
    fingerprint = hashlib.sha256(json.dumps([job.seed, cfg.model_dump(), data_md5]).encode()).hexdigest()[:16]
    checkpoint = Path(job.paths.checkpoints) / fingerprint
    params = {"seed": job.seed, "generator": job.name, "modality": job.modality, "data": job.data,
              "train": cfg.model_dump(mode="json")}
    tags = {"stage": "train", "data.train.md5": data_md5, "model.parameters": str(model.count_params()),
            "mlflow.note.content": _description(job, model.count_params(), data_md5),
            **({"prefect.flow_run_id": os.environ["GENFORGE_FLOW_RUN_ID"]} if "GENFORGE_FLOW_RUN_ID" in os.environ
               else {})}

    def sample(m) -> str:
        return cfg.sample_prompt + generate(m, tokenizer, cfg.sample_prompt, max_new_tokens=cfg.sample_tokens,
                                            temperature=cfg.sample_temperature, seed=job.seed)

    start = time.perf_counter()
    with training_run(checkpoint, job.experiment, params, tags) as run_id:  # one trainer; a resume continues the run
        tracking.log_datasets(run_id, {"training": processed / "train.npy", "validation": processed / "val.npy",
                                       "test": processed / "test.npy"}, job.name)
        logger = tracking.epoch_logger(run_id, sample if cfg.sample_tokens > 0 else None)
        model, state, steps = fit_generator(cfg, tokenizer.vocab_size, train_tokens, val_tokens, seed=job.seed,
                                            callbacks=[logger], model=model, checkpoint=checkpoint)
        summary = _write_outputs(job, model, tokenizer, state, run_id, time.perf_counter() - start)
        epoch_samples_plot(logger.drawn, Path(job.paths.metrics) / "train_samples.png",
                           empty="no samples: train.sample_tokens is 0")
        tracking.log_artifact(run_id, Path(job.paths.metrics) / "train_samples.png", "plots")
        state.remove()
        tracking.end_run(run_id, "FINISHED")  # later stages still add their metrics and the model to it
    return {"run_id": run_id, **summary}


def _description(job: Job, parameters: int, data_md5: str) -> str:
    """The run's description (Markdown, MLflow's ``mlflow.note.content``): what is trained, on what, by which stages."""
    cfg = job.train
    return (f"**{job.name}**: a {job.modality} generator, {cfg.arch} ({parameters:,} parameters), trained on "
            f"{', '.join(job.data)} (`{Path(job.paths.processed) / 'train.npy'}`, md5 `{data_md5}`) for up to "
            f"{cfg.epochs} epochs with seed {job.seed}, by the DVC stage `train@{job.name}` of `dvc.yaml` "
            f"(collect, preprocess, train, optimize, evaluate, register, report). The optimize, evaluate and "
            f"register stages add their metrics, the logged model and the gate's decision to this run.")


def _write_outputs(job: Job, model, tokenizer, state, run_id: str, seconds: float) -> dict:
    """Write the trained model folder and the train metrics, log the summary to the run; return the summary."""
    import keras

    cfg, metrics_dir = job.train, Path(job.paths.metrics)
    rows = state.history  # every epoch, the ones before a resume included
    export = keras.models.clone_model(model)  # weights only: no optimizer state in the saved model
    export.set_weights(model.get_weights())
    with atomic_path(job.paths.trained, is_dir=True) as tmp:
        save_generator(tmp, export, tokenizer)
        write_json(tmp / tracking.RUN_FILE, {"run_id": run_id, "tracking_uri": tracking.tracking_uri()})

    tokens_seen = (state.step - state.resumed_from) * cfg.batch_size * cfg.seq_len  # by this process
    summary = {
        "epochs": rows[-1]["epoch"] if rows else 0,
        "steps": state.step,
        "loss": rows[-1]["loss"] if rows else None,
        "val_loss": min((r["val_loss"] for r in rows), default=None),
        "seconds": round(seconds, 2),
        "tokens_per_second": round(tokens_seen / seconds, 1) if rows else 0.0,
        "parameters": int(model.count_params()),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
    write_json(metrics_dir / "train.json", summary)
    write_curves(metrics_dir, rows, state.step_losses, ["epoch", "loss", "val_loss", "accuracy", "val_accuracy"],
                 [("loss", "train loss"), ("val_loss", "val loss")], "cross-entropy (nats/token)")
    tracking.log_artifact(run_id, metrics_dir / "train_loss.png", "plots")
    tracking.log_metrics(run_id, {k: v for k, v in summary.items() if v is not None}, prefix="train/")
    return summary
