"""evaluate: measure the optimized model (accuracy, efficiency, stability, creativity, leakage, adaptability), apply
the promotion gate, and write the samples."""

from __future__ import annotations

import tempfile
from pathlib import Path

from genforge.core import tracking
from genforge.core.config import Job
from genforge.core.efficiency import peak_rss_mib
from genforge.core.files import atomic_path, read_json, write_json
from genforge.core.gate import check_gate
from genforge.core.stability import loss_spikes, nonfinite_count, seed_spread, step_losses
from genforge.core.tracking import flatten
from genforge.core.trainer import set_threads
from genforge.text.adaptability import adaptability
from genforge.text.data import load_tokens
from genforge.text.efficiency import generation_speed
from genforge.text.evaluation import score
from genforge.text.models import load_generator, model_file, save_generator
from genforge.text.pruning import prune_model
from genforge.text.sample_metrics import TrainingText, copied_span, sample_metrics
from genforge.text.sampling import generate, generate_batch
from genforge.text.training import fit_generator

SAMPLES_JSON = "samples.json"  # in paths.metrics: every sample with its longest copied span, for the report


def _bits_per_character(metrics: dict, unit: str, test_chars: int) -> float:
    """Test bits per character; a byte model's bits per byte are rescaled by bytes per character of the text."""
    if unit == "character":
        return metrics["bits_per_character"]
    return metrics["bits_per_byte"] * metrics["tokens"] / max(test_chars - 1, 1)


def _seed_bits(job: Job, tokenizer, test, test_chars: int) -> list[float]:
    """Test bits per character of models trained like the train stage's with seeds ``seed + 1 .. seed + N - 1``,
    each optimized like the optimize stage's (``evaluate.seeds`` = N)."""
    processed = Path(job.paths.processed)
    train_tokens, val_tokens = load_tokens(processed / "train.npy"), load_tokens(processed / "val.npy")
    bits = []
    for seed in range(job.seed + 1, job.seed + job.evaluate.seeds):
        model, _, _ = fit_generator(job.train, tokenizer.vocab_size, train_tokens, val_tokens, seed=seed)
        if job.optimize.prune.sparsity > 0:
            prune_model(model, job.optimize.prune, job.train, train_tokens, seed=seed + 1)
        with tempfile.TemporaryDirectory() as tmp:
            save_generator(Path(tmp), model, tokenizer, method=job.optimize.method)
            model, _ = load_generator(tmp)
        m = score(model, test, context=job.evaluate.context, unit=tokenizer.unit)
        bits.append(_bits_per_character(m, tokenizer.unit, test_chars))
    return bits


def evaluate(job: Job) -> dict:
    """Write ``paths.metrics/evaluate.json``, ``samples.txt`` and ``samples.json`` there; log the metrics,
    the gate result (tags ``gate.passed``, ``gate.reasons``) and the samples to the model's MLflow run.

    evaluate.json holds, at the top level, the test-split accuracy (cross_entropy in nats/token, perplexity, bits per
    character (and per byte for byte models), top-1 and top-5 accuracy, tokens), and then the sections:

    - ``samples``: diversity, novelty and memorization of ``num_samples`` samples against the training text
      (:func:`genforge.text.sample_metrics.sample_metrics`); ``reference``: the same measures of as many stretches of
      the
      test split, each as long as a sample;
    - ``stability``: non-finite and spiking training-step losses, whether one seed gives one sample, and test bits
      per character over ``evaluate.seeds`` training seeds (mean, std);
    - ``efficiency``: parameters, model file size, training tokens/s and peak memory, generation characters/s and
      per-token latency at batch 1 and ``speed_batch``, this stage's peak memory;
    - ``adaptability``: :func:`genforge.text.adaptability.adaptability` on the held-out domain (empty when there is
      none);
    - ``gate``: :func:`genforge.core.gate.check_gate` of all of the above against ``evaluate.gate``.
    """
    set_threads(job.train)  # TensorFlow's thread pools, before the stage runs any op
    cfg = job.evaluate
    folder, processed = Path(job.paths.optimized), Path(job.paths.processed)
    metrics_dir = Path(job.paths.metrics)
    model, tokenizer = load_generator(folder)
    tokenizer.encode_prompt(cfg.sample_prompt)  # an unusable prompt fails now, not after scoring
    test = load_tokens(processed / "test.npy")
    test_chars = read_json(metrics_dir / "preprocess.json")["test"]["characters"]
    train_summary = read_json(metrics_dir / "train.json")

    metrics = score(model, test, context=cfg.context, unit=tokenizer.unit)
    metrics["bits_per_character"] = _bits_per_character(metrics, tokenizer.unit, test_chars)

    shown = [generate(model, tokenizer, cfg.sample_prompt, max_new_tokens=cfg.sample_tokens, temperature=t,
                      seed=job.seed) for t in cfg.temperatures]
    # drawn with seeds seed + 1, seed + 2, ...: seed itself draws the shown samples, which would repeat one of these
    drawn = generate_batch(model, tokenizer, [cfg.sample_prompt] * cfg.num_samples,
                           max_new_tokens=cfg.sample_tokens, temperature=cfg.temperature, seed=job.seed + 1)
    train_text = TrainingText(tokenizer.decode(load_tokens(processed / "train.npy")))
    creativity = sample_metrics(drawn, train_text, copy_threshold=cfg.memorization_chars)
    # the same measures on real held-out writing of the same size: what the samples should be compared with
    test_text = tokenizer.decode(test)
    step = max(len(test_text) // len(drawn), 1)
    real = [test_text[i * step:i * step + len(s)] for i, s in enumerate(drawn)]
    reference = sample_metrics(real, train_text, copy_threshold=cfg.memorization_chars)

    losses = step_losses(metrics_dir / "train_steps.csv")
    again = generate(model, tokenizer, cfg.sample_prompt, max_new_tokens=cfg.sample_tokens,
                     temperature=cfg.temperature, seed=job.seed + 1)
    seed_bits = [metrics["bits_per_character"], *_seed_bits(job, tokenizer, test, test_chars)]
    spread = seed_spread(seed_bits)
    stability = {
        "nonfinite_losses": nonfinite_count(losses),
        "loss_spikes": loss_spikes(losses, window=cfg.spike_window, rise=cfg.spike_rise),
        "training_steps": len(losses),
        "same_seed_identical": again == drawn[0],
        "seeds": spread["n"],
        "bits_per_character_mean": spread["mean"],
        "bits_per_character_std": spread["std"],
    }

    efficiency = {
        "parameters": int(model.count_params()),
        "model_file_bytes": model_file(folder).stat().st_size,
        "train_tokens_per_second": train_summary.get("tokens_per_second", 0.0),
        "train_peak_rss_mib": train_summary.get("peak_rss_mib", 0.0),
    }
    for batch in sorted({1, cfg.speed_batch}):
        speed = generation_speed(model, tokenizer, cfg.sample_prompt, batch=batch, tokens=cfg.speed_tokens,
                                 temperature=cfg.temperature, seed=job.seed)
        efficiency.update({f"batch_{batch}_{k}": v for k, v in speed.items()})

    domain = load_tokens(processed / "domain.npy")
    adapt = {}
    if cfg.adapt_steps and domain.size:
        adapt = adaptability(model, domain, steps=cfg.adapt_steps, seq_len=job.train.seq_len,
                             batch_size=job.train.batch_size, learning_rate=cfg.adapt_learning_rate,
                             fresh_learning_rate=job.train.learning_rate, context=cfg.context,
                             unit=tokenizer.unit, seed=job.seed, holdout_fraction=cfg.adapt_holdout)
    efficiency["evaluate_peak_rss_mib"] = peak_rss_mib()

    result = {**metrics, "samples": creativity, "reference": reference, "stability": stability,
              "efficiency": efficiency, "adaptability": adapt}
    gate = check_gate(flatten(result), cfg.gate)
    result["gate"] = gate

    records = ([{"kind": "shown", "temperature": t, "seed": job.seed, "text": s} for t, s in
                zip(cfg.temperatures, shown, strict=True)]
               + [{"kind": "drawn", "temperature": cfg.temperature, "seed": job.seed + 1 + i, "text": s}
                  for i, s in enumerate(drawn)])
    for r in records:
        r["copied_start"], r["copied_length"] = copied_span(r["text"], train_text.text)
    text_report = metrics_dir / "samples.txt"
    with atomic_path(text_report) as tmp:
        tmp.write_text("\n".join(f"=== temperature {r['temperature']} seed {r['seed']} ===\n{cfg.sample_prompt}"
                                 f"{r['text']}\n" for r in records), encoding="utf-8")
    write_json(metrics_dir / SAMPLES_JSON, {"prompt": cfg.sample_prompt, "samples": records})
    write_json(metrics_dir / "evaluate.json", result)

    run_id = read_json(folder / tracking.RUN_FILE)["run_id"]
    tracking.log_metrics(run_id, metrics, prefix="test/")
    for section in ("samples", "reference", "stability", "efficiency", "adaptability"):
        tracking.log_metrics(run_id, result[section], prefix=f"{section}/")
    tracking.log_metrics(run_id, {"passed": gate["passed"]}, prefix="gate/")
    tracking.set_tags(run_id, {"gate.passed": str(gate["passed"]).lower(), "gate.reasons": "; ".join(gate["reasons"])
                               or "all checks passed"})
    tracking.log_artifact(run_id, text_report, "samples")
    return {"bits_per_character": round(metrics["bits_per_character"], 4), "gate": "passed" if gate["passed"]
            else "failed: " + "; ".join(gate["reasons"])}
