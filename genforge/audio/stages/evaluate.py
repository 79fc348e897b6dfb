"""evaluate: score the optimized tune generator on the test tunes (bits per character), sample tunes, count those
that parse, compare their pitch-class, interval and note-length histograms with the test tunes' beside a unigram
model's samples and the training tunes (the real-vs-real floor), measure copied event n-grams, render some to MIDI
and WAV, and check the gate."""

from __future__ import annotations

import base64
import tempfile
import time
from pathlib import Path

import numpy as np

from genforge.audio.abc import parsed_events
from genforge.audio.music import compare, copied_share, distinct_ngrams, histograms, ngrams, unigram_samples
from genforge.audio.render import check_soundfont, midi_bytes, wav_bytes
from genforge.audio.sampling import STOP, sample_tunes
from genforge.audio.stages.preprocess import MELODIES
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

SAMPLES_JSON = "samples.json"  # in paths.metrics: every sampled tune, and the rendered ones as MIDI and WAV (base64)
def _unigram_tunes(job: Job, tokenizer, n: int) -> list[str]:
    """``n`` tunes whose characters are drawn independently from the training split's character frequencies (the
    prompt first), each ending before its first empty line: the trivial baseline."""
    counts = np.bincount(load_tokens(Path(job.paths.processed) / "train.npy"), minlength=tokenizer.vocab_size)
    counts[list(tokenizer.never_generate)] = 0
    cfg = job.evaluate
    drawn = unigram_samples(counts, n, cfg.sample_tokens, job.seed)
    return [(cfg.prompt + tokenizer.decode(ids)).split(STOP)[0] for ids in drawn]


def _music(job: Job, tunes: list[str], unigram: list[str], melodies: dict) -> tuple[dict, list, dict]:
    """The sample measures: parse shares, histogram distances to the test tunes (model, unigram, training tunes),
    copied event n-grams and distinct event n-grams (model and test tunes); each tune's melody (``None`` where it
    does not parse); the four histograms, as lists."""
    n = job.evaluate.ngram
    parsed = [parsed_events(t, melodies["min_notes"]) for t in tunes]
    base = [parsed_events(t, melodies["min_notes"]) for t in unigram]
    ok, base_ok = [m for m in parsed if m], [m for m in base if m]
    test = [[tuple(e) for e in m] for m in melodies["test"]]
    train = [[tuple(e) for e in m] for m in melodies["train"]]
    hists = {"test tunes": histograms(test), "model": histograms(ok), "unigram": histograms(base_ok),
             "training tunes": histograms(train)}
    reference = hists["test tunes"]
    training_ngrams = set().union(*(ngrams(m, n) for m in train))
    model = {"samples": len(tunes), "parsed_share": len(ok) / len(tunes),
             **compare(reference, hists["model"]),
             f"copied_{n}gram_share": copied_share(ok, training_ngrams, n), f"distinct_{n}gram": distinct_ngrams(ok, n),
             "notes_per_tune": float(np.mean([len(m) for m in ok])) if ok else 0.0}
    unigram_scores = {"parsed_share": len(base_ok) / len(unigram), **compare(reference, hists["unigram"])}
    floor = {**compare(reference, hists["training tunes"]),
             f"copied_{n}gram_share": copied_share(test, training_ngrams, n),
             f"distinct_{n}gram": distinct_ngrams(test, n), "notes_per_tune": float(np.mean([len(m) for m in test]))}
    lists = {name: {k: v.tolist() for k, v in h.items()} for name, h in hists.items()}
    return {"samples": model, "baselines": {"unigram": unigram_scores, "real_tunes": floor}}, parsed, lists


def _render(job: Job, tunes: list[str], parsed: list) -> list[dict]:
    """Every sampled tune as a record (seed, ABC, parsed or not); the first ``evaluate.rendered`` that parse also as
    base64 MIDI and WAV."""
    cfg = job.evaluate
    soundfont = check_soundfont(Path(job.paths.raw) / cfg.soundfont) if cfg.rendered else None
    records, left = [], cfg.rendered
    for i, (tune, melody) in enumerate(zip(tunes, parsed, strict=True)):
        record = {"seed": job.seed + 1 + i, "abc": tune, "parsed": melody is not None}
        if melody is not None and left > 0:
            left -= 1
            midi = midi_bytes(melody, program=cfg.program, tempo=cfg.tempo, max_seconds=cfg.clip_seconds)
            wav = wav_bytes(melody, soundfont, program=cfg.program, tempo=cfg.tempo, sample_rate=cfg.sample_rate,
                            max_seconds=cfg.clip_seconds)
            record.update(melody=melody, midi=base64.b64encode(midi).decode(), wav=base64.b64encode(wav).decode())
        records.append(record)
    return records


def evaluate(job: Job) -> dict:
    """Write ``paths.metrics/evaluate.json``, ``samples.txt`` (every sampled tune's ABC) and ``samples.json``; log
    the metrics, the gate result, the ABC, MIDI and WAV files to the model's MLflow run.

    evaluate.json: the test tunes' cross-entropy, perplexity and bits per character (:func:`genforge.text.evaluation
    .score`); ``samples``: parse share, histogram overlap and KL to the test tunes
    (:func:`genforge.audio.music.compare`), copied and distinct event n-grams; ``baselines``: ``unigram`` (characters
    drawn from the training frequencies) and ``real_tunes`` (the real-vs-real floor: the training tunes' histograms
    against the test tunes', and the test tunes' copied and distinct n-grams against the training tunes);
    ``stability``; ``efficiency`` (characters/s of sampling, the real-time factor: seconds of music per
    second of sampling); ``gate``.

    Raises:
        GenForgeError: the soundfont is missing or not a SoundFont 2 file (before any sampling), or a prompt
            character is outside the vocabulary.
    """
    set_threads(job.train)
    cfg, folder, metrics_dir = job.evaluate, Path(job.paths.optimized), Path(job.paths.metrics)
    if cfg.rendered:
        check_soundfont(Path(job.paths.raw) / cfg.soundfont)
    model, tokenizer = load_generator(folder)
    tokenizer.encode_prompt(cfg.prompt)
    melodies = read_json(Path(job.paths.processed) / MELODIES)
    metrics = score(model, load_tokens(Path(job.paths.processed) / "test.npy"), context=cfg.context,
                    unit=tokenizer.unit)
    start = time.perf_counter()
    tunes = sample_tunes(model, tokenizer, prompt=cfg.prompt, n=cfg.num_samples, max_tokens=cfg.sample_tokens,
                         temperature=cfg.temperature, seed=job.seed + 1)
    seconds = time.perf_counter() - start
    music, parsed, hists = _music(job, tunes, _unigram_tunes(job, tokenizer, cfg.num_samples), melodies)
    again = sample_tunes(model, tokenizer, prompt=cfg.prompt, n=1, max_tokens=cfg.sample_tokens,
                         temperature=cfg.temperature, seed=job.seed + 1)[0]
    losses = step_losses(metrics_dir / "train_steps.csv")
    quarters = sum(length for m in parsed if m for _, length in m)
    result = {**metrics, **music,
              "stability": {"nonfinite_losses": nonfinite_count(losses), "training_steps": len(losses),
                            "loss_spikes": loss_spikes(losses, window=cfg.spike_window, rise=cfg.spike_rise),
                            "same_seed_identical": again == tunes[0]},
              "efficiency": {"parameters": int(model.count_params()),
                             "model_file_bytes": model_file(folder).stat().st_size,
                             "sampling_characters_per_second": sum(len(t) for t in tunes) / seconds,
                             "real_time_factor": quarters * 60 / cfg.tempo / seconds,
                             "evaluate_peak_rss_mib": peak_rss_mib()}}
    result["gate"] = check_gate(tracking.flatten(result), cfg.gate)
    records = _render(job, tunes, parsed)
    _write(job, result, {"histograms": hists, "samples": records})
    gate = result["gate"]
    return {"bits_per_character": round(metrics["bits_per_character"], 4),
            "parsed_share": music["samples"]["parsed_share"],
            "gate": "passed" if gate["passed"] else "failed: " + "; ".join(gate["reasons"])}


def _write(job: Job, result: dict, samples: dict) -> None:
    """Write the stage's files and log them, the metrics and the gate to the model's MLflow run."""
    metrics_dir, records = Path(job.paths.metrics), samples["samples"]
    text_report = metrics_dir / "samples.txt"
    with atomic_path(text_report) as tmp:
        tmp.write_text("".join(f"% seed {r['seed']}{'' if r['parsed'] else ' (does not parse)'}\nX:{i + 1}\n"
                               f"{r['abc'].rstrip()}\n\n" for i, r in enumerate(records)), encoding="utf-8")
    write_json(metrics_dir / SAMPLES_JSON, samples)
    write_json(metrics_dir / "evaluate.json", result)
    run_id = read_json(Path(job.paths.optimized) / tracking.RUN_FILE)["run_id"]
    flat = {k: v for k, v in tracking.flatten(result).items()
            if not k.startswith("gate") and isinstance(v, int | float) and not isinstance(v, bool)}
    tracking.log_metrics(run_id, flat, prefix="test/")
    gate = result["gate"]
    tracking.log_metrics(run_id, {"passed": gate["passed"]}, prefix="gate/")
    tracking.set_tags(run_id, {"gate.passed": str(gate["passed"]).lower(),
                               "gate.reasons": "; ".join(gate["reasons"]) or "all checks passed"})
    tracking.log_artifact(run_id, text_report, "samples")
    with tempfile.TemporaryDirectory() as tmp:
        for r in records:
            for kind in ("midi", "wav"):
                if kind in r:
                    path = Path(tmp) / f"tune-seed-{r['seed']}.{'mid' if kind == 'midi' else kind}"
                    path.write_bytes(base64.b64decode(r[kind]))
                    tracking.log_artifact(run_id, path, "samples")
