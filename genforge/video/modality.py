"""The video modality on the seam of :mod:`genforge.core.modality`: its generator model and its part of each stage."""

from __future__ import annotations

from genforge.core.modality import StagePackage
from genforge.video.config import VideoGenerator


class VideoModality(StagePackage):
    """Video: Moving MNIST built from MNIST's digits; next-frame predictors (ConvLSTM, a convolutional window model)
    generating in closed loop; MSE, PSNR and SSIM per horizon beside the copy-last-frame and mean-frame baselines.
   """

    name = "video"
    config = VideoGenerator

    def fit_trial(self, job, train, seed: int, on_epoch) -> list[float]:
        from genforge.video.training import fit_trial

        return fit_trial(job, train, seed, on_epoch)

    def check_search_inputs(self, job) -> None:
        from genforge.video.training import load_training_data

        load_training_data(job)

    def log_model(self, job, run_id: str, registered_name: str) -> int:
        from genforge.video.pyfunc import log_predictor

        return log_predictor(run_id, job.paths.optimized, registered_name)


MODALITY = VideoModality()
