"""The image modality on the seam of :mod:`genforge.core.modality`: its generator model and its part of each stage."""

from __future__ import annotations

from genforge.core.modality import StagePackage
from genforge.image.config import ImageGenerator


class ImageModality(StagePackage):
    """Images: MNIST's IDX files or a folder of image files; the VAE, DCGAN and diffusion generators; FID, KID,
    coverage and memorization on a domain feature network."""

    name = "image"
    config = ImageGenerator

    def fit_trial(self, job, train, seed: int, on_epoch) -> list[float]:
        from genforge.image.training import fit_trial

        return fit_trial(job, train, seed, on_epoch)

    def check_search_inputs(self, job) -> None:
        from genforge.image.training import load_training_splits

        load_training_splits(job)

    def log_model(self, job, run_id: str, registered_name: str) -> int:
        from genforge.image.pyfunc import log_generator

        return log_generator(run_id, job.paths.optimized, registered_name)


MODALITY = ImageModality()
