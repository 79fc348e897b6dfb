"""Images as files and text: a sample grid (the per-epoch grid of MLflow and the CLI's ``--out grid.png``), PNG bytes,
and base64 PNG (what a served image generator returns in JSON)."""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import numpy as np

from genforge.core.files import atomic_path


def _check(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3) or len(images) == 0:
        raise ValueError(f"expected uint8 images (N, H, W, 1 or 3) with N >= 1, got {images.dtype} {images.shape}")
    return images


def grid(images: np.ndarray, columns: int | None = None, padding: int = 2, background: int = 255) -> np.ndarray:
    """Tile ``uint8 (N, H, W, C)`` images row by row into one ``uint8 (rows * (H + p) + p, cols * (W + p) + p, C)``
    image, ``p`` pixels of ``background`` between and around them; ``columns`` defaults to ``ceil(sqrt(N))``;
    unused cells stay background.

    Raises:
        ValueError: the images are not such an array.
    """
    images = _check(images)
    n, h, w, c = images.shape
    cols = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), background, np.uint8)
    for i, image in enumerate(images):
        top, left = padding + (i // cols) * (h + padding), padding + (i % cols) * (w + padding)
        out[top:top + h, left:left + w] = image
    return out


def png_bytes(image: np.ndarray) -> bytes:
    """One ``uint8 (H, W, 1 or 3)`` image as PNG bytes (grayscale or RGB)."""
    from PIL import Image

    image = _check(np.asarray(image)[None])[0]
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="PNG")
    return buffer.getvalue()


def png_base64(image: np.ndarray) -> str:
    """One image as base64 text of its PNG bytes (:func:`png_bytes`)."""
    return base64.b64encode(png_bytes(image)).decode("ascii")


def save_png(image: np.ndarray, path: str | Path) -> None:
    """Write one image as a PNG file, atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(png_bytes(image))
