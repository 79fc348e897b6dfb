"""Image datasets between the raw files and the models (MNIST's IDX files: :mod:`genforge.core.idx`): a validation
split carved from train by seed, and pixels scaled to a model's range (splits on disk: :mod:`genforge.image.shards`).

Split arrays are ``uint8 (N, H, W, C)`` images and ``int64 (N,)`` labels (``-1`` where a dataset has none); the
scaling to a model's range happens when a model reads them, so one processed dataset serves every model.
"""

from __future__ import annotations

import numpy as np

from genforge import GenForgeError


def carve_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)`` of ``n`` items: ``round(n * fraction)`` drawn for validation by ``seed`` without
    replacement, the rest for training; each sorted.

    Raises:
        GenForgeError: ``fraction`` is not in (0, 1) or leaves a split empty.
    """
    size = round(n * fraction)
    if not 0 < fraction < 1 or size == 0 or size == n:
        raise GenForgeError(f"a validation fraction of {fraction} of {n} images leaves a split empty; choose a "
                            "fraction in (0, 1) that gives both splits at least one image")
    val = np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
    return np.setdiff1d(np.arange(n), val), val


def scale(images: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """``uint8`` pixels as ``float32`` in ``value_range``: 0 -> low, 255 -> high, linearly.

    Raises:
        GenForgeError: the images are not ``uint8`` (values outside 0..255 cannot be represented).
    """
    if images.dtype != np.uint8:
        raise GenForgeError(f"expected uint8 pixels (0..255), got {images.dtype} with values "
                            f"{images.min()}..{images.max()}; decode images with genforge.image.folder")
    low, high = value_range
    return (images.astype(np.float32) * np.float32((high - low) / 255.0) + np.float32(low)).astype(np.float32)
