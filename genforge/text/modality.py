"""The text modality on the seam of :mod:`genforge.core.modality`: its generator model and its part of each stage."""

from __future__ import annotations

from genforge.core.modality import StagePackage
from genforge.text.config import TextGenerator


class TextModality(StagePackage):
    """Token sequences: char or byte tokenizers, the MLP, LSTM and GPT generators, language-model metrics."""

    name = "text"
    config = TextGenerator

    def fit_trial(self, job, train, seed: int, on_epoch) -> list[float]:
        from genforge.text.training import fit_trial

        return fit_trial(job, train, seed, on_epoch)

    def check_search_inputs(self, job) -> None:
        from genforge.text.data import load_splits

        load_splits(job)

    def log_model(self, job, run_id: str, registered_name: str) -> int:
        from genforge.text.pyfunc import log_generator

        return log_generator(run_id, job.paths.optimized, registered_name, example_prompt=job.train.sample_prompt)


MODALITY = TextModality()
