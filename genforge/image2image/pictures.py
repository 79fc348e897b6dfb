"""Pictures of translations: input | output | target triplets side by side, one row per pair."""

from __future__ import annotations

import numpy as np


def triplets(inputs: np.ndarray, outputs: np.ndarray, targets: np.ndarray, gap: int = 2) -> np.ndarray:
    """One ``uint8 (n * (H + gap) - gap, 3 * W + 2 * gap)`` picture: per pair a row input | output | target
    (each ``uint8 (n, H, W)`` or ``(n, H, W, 1)``), separated by mid-grey gaps of ``gap`` pixels.

    >>> triplets(np.zeros((2, 1, 1), np.uint8), np.ones((2, 1, 1), np.uint8), np.ones((2, 1, 1), np.uint8)).shape
    (4, 7)
    """
    n, h, w = inputs.shape[:3]
    picture = np.full((n * (h + gap) - gap, 3 * w + 2 * gap), 128, np.uint8)
    for i in range(n):
        for j, images in enumerate((inputs, outputs, targets)):
            picture[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = images[i].reshape(h, w)
    return picture
