"""The image-to-image modality on the seam of :mod:`genforge.core.modality`: its generator model and its part of each
stage."""

from __future__ import annotations

from genforge.core.modality import StagePackage
from genforge.image2image.config import Image2ImageGenerator


class Image2ImageModality(StagePackage):
    """Image-to-image translation: glyph pairs of two typefaces, drawings from their edge maps, or paired folders;
    Pix2Pix (a U-Net and a PatchGAN) beside the L1-only U-Net and the identity; L1, PSNR, SSIM, FID and KID on
    characters or drawings never seen in training."""

    name = "image2image"
    config = Image2ImageGenerator

    def fit_trial(self, job, train, seed: int, on_epoch) -> list[float]:
        from genforge.image2image.training import fit_trial

        return fit_trial(job, train, seed, on_epoch)

    def check_search_inputs(self, job) -> None:
        from genforge.image2image.training import load_split

        load_split(job.paths.processed, "train", job.name)

    def log_model(self, job, run_id: str, registered_name: str) -> int:
        from genforge.image2image.pyfunc import log_translator

        return log_translator(run_id, job.paths.optimized, registered_name)


MODALITY = Image2ImageModality()
