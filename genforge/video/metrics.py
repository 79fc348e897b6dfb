"""Frame-prediction scores per horizon (MSE, PSNR, SSIM) and the baselines every predictor is compared with."""

from __future__ import annotations

import numpy as np

from genforge.core.pixel_metrics import mse, psnr, ssim


def per_horizon(predicted: np.ndarray, true: np.ndarray) -> dict[str, list[float]]:
    """``{"mse", "psnr", "ssim"}``: each a list over horizons ``1..T`` of the mean over sequences of that frame's
    score (PSNR per frame, then averaged, as video-prediction papers report it)."""
    frame_mse = mse(predicted, true)
    return {"mse": frame_mse.mean(0).tolist(), "psnr": psnr(frame_mse).mean(0).tolist(),
            "ssim": ssim(predicted, true).mean(0).tolist()}


def copy_last_frame(context: np.ndarray, horizon: int) -> np.ndarray:
    """The copy-last-frame baseline: the last context frame repeated ``horizon`` times, ``(N, horizon, H, W, C)``."""
    return np.repeat(context[:, -1:], horizon, axis=1)


def black_frame(context: np.ndarray, horizon: int) -> np.ndarray:
    """The black-frame baseline: ``horizon`` frames of zeros, the background of Moving MNIST. On such data it shows
    how much of a score the background alone earns (SSIM rewards an empty prediction of a mostly empty frame)."""
    return np.zeros((len(context), horizon, *context.shape[2:]), np.float32)


def mean_frame(context: np.ndarray, horizon: int) -> np.ndarray:
    """The mean-frame baseline: the pixel-wise mean of the context frames, repeated ``horizon`` times."""
    return np.repeat(context.mean(axis=1, keepdims=True), horizon, axis=1)
