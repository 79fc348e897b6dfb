"""The text modality on the seam of :mod:`genforge.core.modality`: its generator model and its part of each stage."""

from __future__ import annotations

from typing import Any

from genforge.text.config import TextGenerator


class TextModality:
    """Token sequences: char or byte tokenizers, the MLP, LSTM and GPT generators, language-model metrics. Each verb
    imports its stage module when called, so that reading params.yaml imports no TensorFlow."""

    name = "text"
    config = TextGenerator

    def preprocess(self, job) -> dict[str, Any]:
        from genforge.text.stages.preprocess import preprocess

        return preprocess(job)

    def train(self, job) -> dict[str, Any]:
        from genforge.text.stages.train import train

        return train(job)

    def optimize(self, job) -> dict[str, Any]:
        from genforge.text.stages.optimize import optimize

        return optimize(job)

    def evaluate(self, job) -> dict[str, Any]:
        from genforge.text.stages.evaluate import evaluate

        return evaluate(job)

    def fit_trial(self, job, train, seed: int, on_epoch) -> list[float]:
        from genforge.text.training import fit_trial

        return fit_trial(job, train, seed, on_epoch)

    def check_search_inputs(self, job) -> None:
        from genforge.text.data import load_splits

        load_splits(job)

    def log_model(self, job, run_id: str, registered_name: str) -> int:
        from genforge.text.pyfunc import log_generator

        return log_generator(run_id, job.paths.optimized, registered_name, example_prompt=job.train.sample_prompt)

    def report(self, job, registration: dict, title: str) -> str:
        from genforge.text.stages.report import report_page

        return report_page(job, registration, title)


MODALITY = TextModality()
