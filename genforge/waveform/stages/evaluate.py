"""evaluate: score the optimized waveform generator on the test files (bits per sample), sample clips, compare their
log-mel statistics with the test audio's beside a unigram model's clips and the training audio (the real-vs-real
floor), measure the real-time factor, write some clips as WAV, and check the gate."""

from __future__ import annotations

import base64
import tempfile
import time
from pathlib import Path

import numpy as np

from genforge.core import tracking
from genforge.core.config import Job
from genforge.core.efficiency import peak_rss_mib
from genforge.core.files import atomic_path, read_json, write_json
from genforge.core.gate import check_gate
from genforge.core.stability import loss_spikes, nonfinite_count, step_losses
from genforge.core.trainer import set_threads
from genforge.text.data import load_tokens
from genforge.text.evaluation import score
from genforge.text.models import load_generator, model_file
from genforge.waveform.mulaw import CLASSES, decode
from genforge.waveform.sampling import sample_codes
from genforge.waveform.spectral import frechet_log_mel, mel_frames, rms_dbfs
from genforge.waveform.stages.preprocess import sample_rate
from genforge.waveform.wav import wav_bytes

SAMPLES_JSON = "samples.json"  # in paths.metrics: the sample rate and the rendered clips as WAV (base64)


def unigram_bits(train: np.ndarray, test: np.ndarray) -> float:
    """Bits per sample of ``test`` codes under the unigram model of ``train`` codes (each code's training frequency,
    add-one smoothed over the 256 classes): the cross-entropy of a model that ignores every earlier sample."""
    counts = np.bincount(train, minlength=CLASSES).astype(np.float64) + 1
    return float(-np.log2(counts / counts.sum())[test].mean())


def _spectral(job: Job, rate: int, clips: np.ndarray, train: np.ndarray, test: np.ndarray) -> dict:
    """Log-mel Fréchet distances to the test audio of the model's clips, of a unigram model's clips (codes drawn
    i.i.d. from the training frequencies) and of the training audio (the floor), and each one's loudness."""
    cfg = job.evaluate
    counts = np.bincount(train, minlength=CLASSES).astype(np.float64)
    rng = np.random.default_rng(job.seed)
    unigram = rng.choice(CLASSES, size=clips.shape, p=counts / counts.sum())
    mel = {"frame": cfg.frame, "hop": cfg.hop, "bands": cfg.mel_bands}
    audio = {"model": [decode(c) for c in clips], "unigram": [decode(c) for c in unigram],
             "training audio": [decode(train)]}
    reference = mel_frames([decode(test)], rate, **mel)
    out = {"test audio": {"rms_dbfs": rms_dbfs(decode(test))}}
    for name, clips_of in audio.items():
        out[name] = {"log_mel_frechet": frechet_log_mel(reference, mel_frames(clips_of, rate, **mel)),
                     "rms_dbfs": rms_dbfs(np.concatenate(clips_of))}
    return out


def evaluate(job: Job) -> dict:
    """Write ``paths.metrics/evaluate.json``, ``samples.txt`` (each clip's seed, length and level) and
    ``samples.json`` (the rendered clips as base64 WAV); log the metrics, the gate and the WAV files to the model's
    MLflow run.

    evaluate.json: the test files' cross-entropy, perplexity and ``bits_per_sample``
    (:func:`genforge.text.evaluation.score`); ``baselines.unigram_bits_per_sample`` (:func:`unigram_bits`) and
    ``baselines.uniform_bits_per_sample`` (8); ``spectral``: the log-mel Fréchet distance to the test audio and the
    RMS level of the model's clips, a unigram model's clips and the training audio (:func:`_spectral`);
    ``stability``; ``efficiency`` (samples/s of sampling, the real-time factor: seconds of audio per second of
    sampling); ``gate``.
    """
    set_threads(job.train)
    cfg, folder, processed = job.evaluate, Path(job.paths.optimized), Path(job.paths.processed)
    model, _ = load_generator(folder)
    rate = sample_rate(job)
    length = int(round(cfg.sample_seconds * rate))
    train, test = load_tokens(processed / "train.npy"), load_tokens(processed / "test.npy")
    metrics = score(model, test, context=cfg.context, unit="sample")
    start = time.perf_counter()
    clips = sample_codes(model, n=cfg.num_samples, length=length, temperature=cfg.temperature, seed=job.seed + 1)
    seconds = time.perf_counter() - start
    again = sample_codes(model, n=1, length=length, temperature=cfg.temperature, seed=job.seed + 1)
    losses = step_losses(Path(job.paths.metrics) / "train_steps.csv")
    result = {**metrics,
              "baselines": {"unigram_bits_per_sample": unigram_bits(train, test), "uniform_bits_per_sample": 8.0},
              "spectral": _spectral(job, rate, clips, train, test),
              "stability": {"nonfinite_losses": nonfinite_count(losses), "training_steps": len(losses),
                            "loss_spikes": loss_spikes(losses, window=cfg.spike_window, rise=cfg.spike_rise),
                            "same_seed_identical": bool((again[0] == clips[0]).all())},
              "efficiency": {"parameters": int(model.count_params()),
                             "model_file_bytes": model_file(folder).stat().st_size,
                             "sampling_samples_per_second": clips.size / seconds,
                             "real_time_factor": clips.size / rate / seconds,
                             "evaluate_peak_rss_mib": peak_rss_mib()}}
    result["gate"] = check_gate(tracking.flatten(result), cfg.gate)
    _write(job, rate, result, clips)
    gate = result["gate"]
    return {"bits_per_sample": round(metrics["bits_per_sample"], 4),
            "log_mel_frechet": round(result["spectral"]["model"]["log_mel_frechet"], 3),
            "gate": "passed" if gate["passed"] else "failed: " + "; ".join(gate["reasons"])}


def _write(job: Job, rate: int, result: dict, clips: np.ndarray) -> None:
    """Write the stage's files and log them, the metrics, the gate and the rendered clips to the model's run."""
    metrics_dir = Path(job.paths.metrics)
    records = [{"seed": job.seed + 1 + i, "seconds": clip.size / rate, "rms_dbfs": rms_dbfs(decode(clip))}
               for i, clip in enumerate(clips)]
    for record, clip in zip(records[:job.evaluate.rendered], clips, strict=False):
        record["wav"] = base64.b64encode(wav_bytes(decode(clip), rate)).decode()
    text_report = metrics_dir / "samples.txt"
    with atomic_path(text_report) as tmp:
        tmp.write_text("".join(f"seed {r['seed']}: {r['seconds']:.2f} s at {rate} Hz, {r['rms_dbfs']:.1f} dBFS"
                               f"{', rendered' if 'wav' in r else ''}\n" for r in records), encoding="utf-8")
    write_json(metrics_dir / SAMPLES_JSON, {"sample_rate": rate, "samples": records})
    write_json(metrics_dir / "evaluate.json", result)
    run_id = read_json(Path(job.paths.optimized) / tracking.RUN_FILE)["run_id"]
    flat = {k: v for k, v in tracking.flatten(result).items()
            if not k.startswith("gate") and isinstance(v, int | float) and not isinstance(v, bool)
            and np.isfinite(v)}
    tracking.log_metrics(run_id, flat, prefix="test/")
    gate = result["gate"]
    tracking.log_metrics(run_id, {"passed": gate["passed"]}, prefix="gate/")
    tracking.set_tags(run_id, {"gate.passed": str(gate["passed"]).lower(),
                               "gate.reasons": "; ".join(gate["reasons"]) or "all checks passed"})
    tracking.log_artifact(run_id, text_report, "samples")
    with tempfile.TemporaryDirectory() as tmp:
        for r in records:
            if "wav" in r:
                path = Path(tmp) / f"clip-seed-{r['seed']}.wav"
                path.write_bytes(base64.b64decode(r["wav"]))
                tracking.log_artifact(run_id, path, "samples")
