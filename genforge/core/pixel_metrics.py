"""Pixel fidelity of images or frames against their references: MSE, PSNR and SSIM (Wang et al. 2004), NumPy in
float64. Arrays are ``(sequences, frames, height, width, channels)`` with pixels in [0, 1]; a batch of still images
is the case ``frames = 1``. Shared by the modalities that score pixels."""

from __future__ import annotations

import numpy as np

from genforge import GenForgeError

SSIM_WINDOW = 11  # the side of SSIM's Gaussian window (Wang et al. 2004)
MIN_MSE = 1e-10  # floor of a frame's MSE in PSNR, so that an exact copy scores 100 dB instead of infinity


def _check(predicted: np.ndarray, true: np.ndarray) -> None:
    if predicted.shape != true.shape or predicted.ndim != 5:
        raise GenForgeError(f"predicted frames {predicted.shape} and true frames {true.shape} must both be "
                            "(sequences, frames, height, width, channels)")


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = 1.5) -> np.ndarray:
    """The 1-D Gaussian ``float64 (size,)`` (summing to 1) whose outer product is SSIM's 2-D window."""
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def _filtered(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``x`` ``(N, H, W)`` filtered by the separable window ``g`` x ``g``, valid positions only."""
    from numpy.lib.stride_tricks import sliding_window_view

    x = sliding_window_view(x, len(g), axis=1) @ g  # (N, H - k + 1, W)
    return sliding_window_view(x, len(g), axis=2) @ g


def ssim(predicted: np.ndarray, true: np.ndarray, chunk: int = 512) -> np.ndarray:
    """SSIM ``float64 (N, T)`` of each frame of ``predicted`` against ``true`` (both ``float (N, T, H, W, C)`` in
    [0, 1]): Wang et al. (2004), "Image Quality Assessment: From Error Visibility to Structural Similarity", with their
    11x11 Gaussian window (sigma 1.5) at the valid positions, K1 = 0.01 and K2 = 0.03, L = 1, the local index
    averaged over the frame and its channels: what ``tf.image.ssim`` computes (the training loss's), here in float64
    and ``chunk`` frames at a time.

    Raises:
        GenForgeError: the shapes differ or are not 5-D, or the frames are smaller than the 11x11 window.
    """
    _check(predicted, true)
    n, t, h, w, c = true.shape
    if min(h, w) < SSIM_WINDOW:
        raise GenForgeError(f"SSIM needs frames of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels (its Gaussian window); "
                            f"got {w}x{h}")
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    g = gaussian_window()

    def planes(a):  # (N * T * C, H, W)
        return np.moveaxis(np.asarray(a, np.float64).reshape(n * t, h, w, c), -1, 1).reshape(-1, h, w)

    x, y = planes(predicted), planes(true)
    out = np.empty(len(x))
    for i in range(0, len(x), chunk):
        a, b = x[i:i + chunk], y[i:i + chunk]
        mu_a, mu_b = _filtered(a, g), _filtered(b, g)
        var_a = _filtered(a * a, g) - mu_a ** 2
        var_b = _filtered(b * b, g) - mu_b ** 2
        cov = _filtered(a * b, g) - mu_a * mu_b
        index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
        out[i:i + chunk] = index.mean(axis=(1, 2))
    return out.reshape(n * t, c).mean(axis=1).reshape(n, t)


def mse(predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Mean squared error ``float64 (N, T)`` of each frame (pixels in [0, 1]).

    Raises:
        GenForgeError: the shapes differ or are not 5-D.
    """
    _check(predicted, true)
    diff = np.asarray(predicted, np.float64) - np.asarray(true, np.float64)
    return (diff ** 2).mean(axis=(2, 3, 4))


def psnr(frame_mse: np.ndarray) -> np.ndarray:
    """PSNR in dB of frames with pixels in [0, 1] from their MSE: ``10 log10(1 / MSE)``, the MSE floored at
    :data:`MIN_MSE`.

    >>> psnr(np.array([0.01, 0.001])).round(6).tolist()
    [20.0, 30.0]
    """
    return 10 * np.log10(1.0 / np.maximum(frame_mse, MIN_MSE))
