"""The video modality on the seam of :mod:`genforge.core.modality`: its generator model and its part of each stage."""

from __future__ import annotations

from typing import Any

from genforge.video.config import VideoGenerator


class VideoModality:
    """Video: Moving MNIST built from MNIST's digits; next-frame predictors (ConvLSTM, a convolutional window model)
    generating in closed loop; MSE, PSNR and SSIM per horizon beside the copy-last-frame and mean-frame baselines.
    Each verb imports its stage module when called, so that reading params.yaml imports no TensorFlow."""

    name = "video"
    config = VideoGenerator

    def preprocess(self, job) -> dict[str, Any]:
        from genforge.video.stages.preprocess import preprocess

        return preprocess(job)

    def train(self, job) -> dict[str, Any]:
        from genforge.video.stages.train import train

        return train(job)

    def optimize(self, job) -> dict[str, Any]:
        from genforge.video.stages.optimize import optimize

        return optimize(job)

    def evaluate(self, job) -> dict[str, Any]:
        from genforge.video.stages.evaluate import evaluate

        return evaluate(job)

    def fit_trial(self, job, train, seed: int, on_epoch) -> list[float]:
        from genforge.video.training import fit_trial

        return fit_trial(job, train, seed, on_epoch)

    def check_search_inputs(self, job) -> None:
        from genforge.video.training import load_training_data

        load_training_data(job)

    def log_model(self, job, run_id: str, registered_name: str) -> int:
        from genforge.video.pyfunc import log_predictor

        return log_predictor(run_id, job.paths.optimized, registered_name)

    def report(self, job, registration: dict, title: str) -> str:
        from genforge.video.stages.report import report_page

        return report_page(job, registration, title)


MODALITY = VideoModality()
