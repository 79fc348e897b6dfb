"""The report page of an audio generator: one self-contained HTML file (WAV players and figures embedded as
base64) from its stages' metric files."""

from __future__ import annotations

import base64
import html
from datetime import UTC, datetime
from pathlib import Path

from genforge import GenForgeError
from genforge.audio.pictures import histograms_png, piano_roll_png
from genforge.audio.stages.evaluate import SAMPLES_JSON
from genforge.core import tracking
from genforge.core.config import Job
from genforge.core.files import read_json
from genforge.core.report import html_img, html_page, html_table

MEASURES = ("parsed_share", "pitch_class_overlap", "pitch_class_kl", "interval_overlap", "interval_kl",
            "note_length_overlap", "note_length_kl")


def _about(job: Job, registration: dict, training: dict, preprocess: dict) -> list[list]:
    try:
        tags = tracking.run_tags(registration["run_id"])
        links = tracking.run_links(registration["run_id"], registration["model_name"], registration.get("version"))
    except GenForgeError:
        tags, links = {}, {}
    rows = [["generator", job.name], ["architecture", f"{job.train.arch} over ABC characters"],
            ["parameters", training.get("parameters")], ["steps", training.get("steps")],
            ["data", f"{preprocess.get('tunes_kept')} tunes of {', '.join(job.data)} ({preprocess.get('tunes_skipped')}"
                     f" skipped); training data md5 {tags.get('data.train.md5', 'unknown')}"],
            ["commit", tags.get("mlflow.source.git.commit", "unknown")],
            ["written", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")]]
    return rows + [[name, url] for name, url in links.items()]


def _sample(record: dict) -> str:
    roll = base64.b64encode(piano_roll_png([tuple(e) for e in record["melody"]], f"seed {record['seed']}")).decode()
    return (f"<h3>seed {record['seed']}</h3><audio controls preload='none' src='data:audio/wav;base64,"
            f"{record['wav']}'></audio> <a download='tune-seed-{record['seed']}.mid' href='data:audio/midi;base64,"
            f"{record['midi']}'>MIDI</a><p>{html_img(roll, 'png', 'piano roll', 640)}</p>"
            f"<pre>{html.escape(record['abc'])}</pre>")


def report_page(job: Job, registration: dict, title: str) -> str:
    """The HTML page of audio generator ``job`` from ``paths.metrics``: the rendered tunes (a WAV player, the
    MIDI file, a piano roll and the ABC of each), the measures beside the unigram baseline and the training tunes,
    the histograms, stability, efficiency, the gate and ``registration`` (its register.json)."""
    metrics_dir = Path(job.paths.metrics)
    training, evaluation = read_json(metrics_dir / "train.json"), read_json(metrics_dir / "evaluate.json")
    samples, preprocess = read_json(metrics_dir / SAMPLES_JSON), read_json(metrics_dir / "preprocess.json")
    model, base = evaluation["samples"], evaluation["baselines"]
    rows = [[name, *(scores.get(k) for k in MEASURES)] for name, scores in
            (("model samples", model), ("unigram samples", base["unigram"]),
             ("training tunes", base["real_tunes"]))]
    n = job.evaluate.ngram
    hist = base64.b64encode(histograms_png(samples["histograms"])).decode()
    gate = evaluation["gate"]
    parts = [
        html_table(["", ""], _about(job, registration, training, preprocess)),
        f"<h2>Sampled tunes (bits per character on {preprocess['test']['tunes']} test tunes: "
        f"{evaluation['bits_per_character']:.4f})</h2>",
        "".join(_sample(r) for r in samples["samples"] if "wav" in r),
        "<h2>Against the test tunes</h2><p>Histograms of the notes of the samples that parse, against the test tunes' "
        "(overlapping area: 1 is equal; KL in bits). unigram: characters drawn from the training frequencies; "
        "training tunes: real tunes against real tunes, the floor. Copied n-grams: runs of (pitch, length) events "
        "found in a training tune; the test tunes' share is what real, unseen tunes share with the training "
        "ones.</p>",
        html_table(["", *MEASURES], rows), html_img(hist, "png", "histograms", 1000),
        html_table(["", f"copied {n}-gram share", f"distinct {n}-grams", "notes per tune"],
                   [[name, s.get(f"copied_{n}gram_share"), s.get(f"distinct_{n}gram"), s.get("notes_per_tune")]
                    for name, s in (("model samples", model), ("test tunes", base["real_tunes"]))]),
        "<h2>Stability</h2>", html_table(["", ""], [[k, v] for k, v in evaluation["stability"].items()]),
        "<h2>Efficiency</h2>", html_table(["", ""], [[k, v] for k, v in evaluation["efficiency"].items()]),
        f"<h2>Gate: {'passed' if gate['passed'] else 'failed'}</h2>",
        html_table(["metric", "value", "op", "threshold", "passed"],
                   [[c["metric"], c["value"], c["op"], c["threshold"], c["passed"]] for c in gate["checks"]]),
        f"<h2>Registry</h2><p>{html.escape(registration['decision'])}</p>",
    ]
    return html_page(f"{title}: {registration['model_name']} version {registration['version']}", parts)
