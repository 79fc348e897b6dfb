"""Sample-quality metrics of image generators on feature vectors (a domain classifier's penultimate layer) or on
pixels: FID, KID, precision/recall/density/coverage, the classifier score, the class histogram and the memorized
share. NumPy only, float64 throughout.

Every function takes features as ``float (N, D)`` arrays, rows being samples.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from genforge import GenForgeError
from genforge.core.feature_distances import feature_matrix, same_width

CHUNK = 1024  # rows of the first set per block of pairwise distances (memory: CHUNK x len(second set) float64)


def _distance_blocks(a: np.ndarray, b: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, block)``: Euclidean distances from rows ``start:start + CHUNK`` of ``a`` to every row of ``b``."""
    b2 = (b ** 2).sum(1)
    for start in range(0, len(a), CHUNK):
        rows = a[start:start + CHUNK]
        sq = (rows ** 2).sum(1)[:, None] + b2[None, :] - 2 * rows @ b.T
        yield start, np.sqrt(np.clip(sq, 0, None))


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of ``x`` to its ``k``-th nearest other row."""
    radii = np.empty(len(x))
    for start, block in _distance_blocks(x, x):
        block[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf  # not itself
        radii[start:start + len(block)] = np.partition(block, k - 1, axis=1)[:, k - 1]
    return radii


def precision_recall_density_coverage(real, fake, k: int = 5) -> dict[str, float]:
    """Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020, eqs. 3-6) of
    generated features against real ones, with k-nearest-neighbour balls.

    A real point's ball has the radius of its ``k``-th nearest other real point. precision: share of generated
    points in at least one real ball; density: generated-in-ball memberships summed over all real balls, divided by
    ``k`` times the number of generated points (1 when they fall as the real points do); coverage: share of real
    balls holding at least one generated point. recall: share of real points in at least one ball of a generated
    point (its radius: its ``k``-th nearest other generated point).

    Raises:
        GenForgeError: a set has ``k`` rows or fewer, or the widths differ.
    """
    real, fake = feature_matrix(real, "real features", k + 1), feature_matrix(fake, "generated features", k + 1)
    same_width(real, fake)
    real_radii, fake_radii = _knn_radii(real, k), _knn_radii(fake, k)
    inside = np.zeros((len(fake), len(real)), dtype=bool)  # generated point i in the ball of real point j
    recalled = np.zeros(len(real), dtype=bool)  # real point j in the ball of some generated point
    for start, block in _distance_blocks(fake, real):  # each generated-real distance computed once
        inside[start:start + len(block)] = block <= real_radii[None, :]
        recalled |= (block <= fake_radii[start:start + len(block), None]).any(0)
    return {"precision": float(inside.any(1).mean()), "recall": float(recalled.mean()),
            "density": float(inside.sum() / (k * len(fake))), "coverage": float(inside.any(0).mean())}


def memorization(samples, train, *, alpha: float = 0.5, n: int = 50) -> dict:
    """Which samples copy a training image, by Carlini et al. (2023, sec. 4.1): sample ``x`` copies its nearest
    training image when ``d(x, nearest) <= alpha * mean(d(x, y) for y in its n nearest training images)``, that is
    when the nearest is much nearer than the crowd around it (distances: Euclidean).

    Args:
        samples: ``(S, D)`` (flattened pixels or features).
        train: ``(N, D)``, ``N >= n``.

    Returns:
        ``{"share"`` (of samples that copy), ``"ratio"`` (``d(x, nearest) / (alpha * mean)`` per sample, ``<= 1``
        copies), ``"nearest"`` (index of each sample's nearest training image), ``"distance"`` (to it)``}``.
    """
    samples, train = feature_matrix(samples, "samples", 1), feature_matrix(train, "training images", n)
    same_width(samples, train)
    ratio, nearest, distance = np.empty(len(samples)), np.empty(len(samples), int), np.empty(len(samples))
    for start, block in _distance_blocks(samples, train):
        closest = np.partition(block, n - 1, axis=1)[:, :n]
        rows = slice(start, start + len(block))
        nearest[rows], distance[rows] = block.argmin(1), block.min(1)
        ratio[rows] = distance[rows] / (alpha * closest.mean(1))
    return {"share": float((ratio <= 1).mean()), "ratio": ratio, "nearest": nearest, "distance": distance}


def classifier_score(probabilities) -> float:
    """``exp(mean KL(p(y|x) || p(y)))`` of a classifier's class posteriors ``(N, C)`` (rows sum to 1), ``p(y)`` their
    mean: the Inception Score of Salimans et al. (2016) with a domain classifier. 1 when every posterior is the
    marginal; ``C`` for confident, evenly spread classes."""
    p = feature_matrix(probabilities, "class probabilities", 1)
    marginal = p.mean(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(p > 0, p * (np.log(p) - np.log(marginal)), 0.0).sum(1)
    return float(np.exp(kl.mean()))


def class_histogram(labels, num_classes: int) -> dict:
    """Counts of predicted classes ``int (N,)`` in ``0..num_classes-1``, their entropy in bits (``log2(C)`` when
    even), and the classes never predicted."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or labels.min() < 0 or labels.max() >= num_classes:
        raise GenForgeError(f"labels must be a non-empty 1-D array of classes 0..{num_classes - 1}")
    counts = np.bincount(labels, minlength=num_classes)
    share = counts[counts > 0] / counts.sum()
    return {"counts": counts.tolist(), "entropy_bits": float(-(share * np.log2(share)).sum()),
            "missing": [int(c) for c in np.flatnonzero(counts == 0)]}
