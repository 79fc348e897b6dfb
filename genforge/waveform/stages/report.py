"""The report page of a waveform generator: one self-contained HTML file (WAV players and spectrograms embedded as
base64) from its stages' metric files."""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from pathlib import Path

from genforge import GenForgeError
from genforge.core import tracking
from genforge.core.config import Job
from genforge.core.files import read_json
from genforge.core.report import html_img, html_page, html_table
from genforge.waveform.pictures import log_mel_png
from genforge.waveform.spectral import log_mel
from genforge.waveform.stages.evaluate import SAMPLES_JSON


def _about(job: Job, registration: dict, training: dict, preprocess: dict) -> list[list]:
    try:
        tags = tracking.run_tags(registration["run_id"])
        links = tracking.run_links(registration["run_id"], registration["model_name"], registration.get("version"))
    except GenForgeError:
        tags, links = {}, {}
    rows = [["generator", job.name], ["architecture", f"{job.train.arch} over 8-bit mu-law samples"],
            ["parameters", training.get("parameters")], ["steps", training.get("steps")],
            ["data", f"{preprocess.get('files_kept')} WAV files of {', '.join(job.data)} at "
                     f"{preprocess.get('sample_rate')} Hz ({preprocess.get('files_skipped')} left out); training "
                     f"data md5 {tags.get('data.train.md5', 'unknown')}"],
            ["commit", tags.get("mlflow.source.git.commit", "unknown")],
            ["written", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")]]
    return rows + [[name, url] for name, url in links.items()]


def _clip(job: Job, record: dict, rate: int) -> str:
    import soundfile

    samples, _ = soundfile.read(io.BytesIO(base64.b64decode(record["wav"])), dtype="float32")
    cfg = job.evaluate
    frames = log_mel(samples, rate, frame=cfg.frame, hop=cfg.hop, bands=cfg.mel_bands)
    picture = base64.b64encode(log_mel_png(frames, cfg.hop / rate, f"seed {record['seed']}")).decode()
    return (f"<h3>seed {record['seed']} ({record['seconds']:.2f} s)</h3><audio controls preload='none' "
            f"src='data:audio/wav;base64,{record['wav']}'></audio><p>{html_img(picture, 'png', 'log-mel', 640)}</p>")


def report_page(job: Job, registration: dict, title: str) -> str:
    """The HTML page of waveform generator ``job`` from ``paths.metrics``: the rendered clips (a WAV player and a
    log-mel spectrogram each), bits per sample beside the unigram and uniform baselines, the log-mel Fréchet
    distances beside a unigram model's clips and the training audio, stability, efficiency, the gate and
    ``registration`` (its register.json)."""
    metrics_dir = Path(job.paths.metrics)
    training, evaluation = read_json(metrics_dir / "train.json"), read_json(metrics_dir / "evaluate.json")
    samples, preprocess = read_json(metrics_dir / SAMPLES_JSON), read_json(metrics_dir / "preprocess.json")
    base, spectral, gate = evaluation["baselines"], evaluation["spectral"], evaluation["gate"]
    parts = [
        html_table(["", ""], _about(job, registration, training, preprocess)),
        "<h2>Sampled clips</h2>",
        "".join(_clip(job, r, samples["sample_rate"]) for r in samples["samples"] if "wav" in r),
        f"<h2>Likelihood on {preprocess['test']['seconds']:.1f} s of test audio (files never trained on)</h2>",
        html_table(["", "bits per sample"], [["model", evaluation["bits_per_sample"]],
                                             ["unigram (training code frequencies)", base["unigram_bits_per_sample"]],
                                             ["uniform over 256 codes", base["uniform_bits_per_sample"]]]),
        "<h2>Against the test audio</h2><p>Fréchet distance between Gaussians fitted to log-mel frames (0: the same "
        "statistics). unigram: codes drawn independently from the training frequencies (noise of speech's level "
        "distribution); training audio: real against real, the floor.</p>",
        html_table(["", "log-mel Fréchet distance", "RMS level (dBFS)"],
                   [[name, s.get("log_mel_frechet", "the reference"), s.get("rms_dbfs")]
                    for name, s in spectral.items()]),
        "<h2>Stability</h2>", html_table(["", ""], [[k, v] for k, v in evaluation["stability"].items()]),
        "<h2>Efficiency</h2>", html_table(["", ""], [[k, v] for k, v in evaluation["efficiency"].items()]),
        f"<h2>Gate: {'passed' if gate['passed'] else 'failed'}</h2>",
        html_table(["metric", "value", "op", "threshold", "passed"],
                   [[c["metric"], c["value"], c["op"], c["threshold"], c["passed"]] for c in gate["checks"]]),
        f"<h2>Registry</h2><p>{html.escape(registration['decision'])}</p>",
    ]
    return html_page(f"{title}: {registration['model_name']} version {registration['version']}", parts)
