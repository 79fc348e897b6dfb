"""evaluate: score the optimized model on the test split and write samples at several temperatures."""

from __future__ import annotations

from pathlib import Path

from genforge import tracking
from genforge.config import Params
from genforge.data import load_tokens
from genforge.evaluation import score
from genforge.files import atomic_path, read_json, write_json
from genforge.models import load_generator
from genforge.sample_metrics import TrainingText, sample_metrics
from genforge.sampling import generate
from genforge.tracking import flatten


def evaluate(params: Params) -> dict:
    """Write ``paths.metrics/evaluate.json`` and ``paths.reports/samples.txt``; log both to the model's MLflow run.

    The test-split metrics (cross_entropy in nats/token, perplexity, bits per character or byte, accuracy, tokens)
    are top-level keys; ``samples`` holds the diversity, novelty and memorization of the samples against the
    training text (:func:`genforge.sample_metrics.sample_metrics`), and ``reference`` the same measures of
    stretches of the test split as long as the samples, taken at evenly spaced offsets."""
    cfg = params.evaluate
    folder = Path(params.paths.optimized)
    model, tokenizer = load_generator(folder)
    tokenizer.encode_prompt(cfg.sample_prompt)  # an unusable prompt fails now, not after scoring
    test = load_tokens(Path(params.paths.processed) / "test.npy")
    metrics = score(model, test, context=cfg.context, unit=tokenizer.unit)
    if tokenizer.unit == "byte":  # bits per character of the same text, for comparison with char models
        chars = read_json(Path(params.paths.metrics) / "preprocess.json")["test"]["characters"]
        metrics["bits_per_character"] = metrics["bits_per_byte"] * metrics["tokens"] / max(chars - 1, 1)
    samples = [generate(model, tokenizer, cfg.sample_prompt, max_new_tokens=cfg.sample_tokens, temperature=t,
                        seed=params.seed) for t in cfg.temperatures]
    train_text = TrainingText(tokenizer.decode(load_tokens(Path(params.paths.processed) / "train.npy")))
    creativity = sample_metrics(samples, train_text, copy_threshold=cfg.memorization_chars)
    # the same measures on real held-out writing of the same size: what the samples should be compared with
    test_text = tokenizer.decode(test)
    step = max(len(test_text) // len(samples), 1)
    real = [test_text[i * step:i * step + len(s)] for i, s in enumerate(samples)]
    reference = sample_metrics(real, train_text, copy_threshold=cfg.memorization_chars)
    report = Path(params.paths.reports) / "samples.txt"
    with atomic_path(report) as tmp:
        tmp.write_text("\n".join(f"=== temperature {t} ===\n{cfg.sample_prompt}{s}\n"
                                 for t, s in zip(cfg.temperatures, samples, strict=True)), encoding="utf-8")
    write_json(Path(params.paths.metrics) / "evaluate.json", {**metrics, "samples": creativity,
                                                              "reference": reference})
    run_id = read_json(folder / tracking.RUN_FILE)["run_id"]
    tracking.log_metrics(run_id, flatten(metrics), prefix="test/")
    tracking.log_metrics(run_id, creativity, prefix="samples/")
    tracking.log_metrics(run_id, reference, prefix="reference/")
    tracking.log_artifact(run_id, report, "samples")
    return metrics


def main() -> int:
    from tasks import run_stage

    return run_stage("evaluate", evaluate)


if __name__ == "__main__":
    raise SystemExit(main())
