"""The image modality on the seam of :mod:`genforge.core.modality`: its generator model and its part of each stage."""

from __future__ import annotations

from typing import Any

from genforge.image.config import ImageGenerator


class ImageModality:
    """Images: MNIST's IDX files or a folder of image files; the VAE, DCGAN and diffusion generators; FID, KID,
    coverage and memorization on a domain feature network. Each verb imports its stage module when called, so that
    reading params.yaml imports no TensorFlow."""

    name = "image"
    config = ImageGenerator

    def preprocess(self, job) -> dict[str, Any]:
        from genforge.image.stages.preprocess import preprocess

        return preprocess(job)

    def train(self, job) -> dict[str, Any]:
        from genforge.image.stages.train import train

        return train(job)

    def optimize(self, job) -> dict[str, Any]:
        from genforge.image.stages.optimize import optimize

        return optimize(job)

    def evaluate(self, job) -> dict[str, Any]:
        from genforge.image.stages.evaluate import evaluate

        return evaluate(job)

    def fit_trial(self, job, train, seed: int, on_epoch) -> list[float]:
        from genforge.image.training import fit_trial

        return fit_trial(job, train, seed, on_epoch)

    def check_search_inputs(self, job) -> None:
        from genforge.image.training import load_training_splits

        load_training_splits(job)

    def log_model(self, job, run_id: str, registered_name: str) -> int:
        from genforge.image.pyfunc import log_generator

        return log_generator(run_id, job.paths.optimized, registered_name)

    def report(self, job, registration: dict, title: str) -> str:
        from genforge.image.stages.report import report_page

        return report_page(job, registration, title)


MODALITY = ImageModality()
