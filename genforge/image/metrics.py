"""Sample-quality metrics of image generators on feature vectors (a domain classifier's penultimate layer) or on
pixels: FID, KID, precision/recall/density/coverage, the classifier score, the class histogram and the memorized
share. NumPy only, float64 throughout.

Every function takes features as ``float (N, D)`` arrays, rows being samples.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from genforge import GenForgeError

CHUNK = 1024  # rows of the first set per block of pairwise distances (memory: CHUNK x len(second set) float64)


def _features(x, name: str, min_rows: int = 2) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < min_rows or not np.isfinite(x).all():
        raise GenForgeError(f"{name}: expected a finite (N, D) array with N >= {min_rows}, got shape {x.shape}"
                            + ("" if np.isfinite(x).all() else " with non-finite values"))
    return x


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """The Fréchet distance between the Gaussians ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``:
    ``|mu1 - mu2|^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))`` (Dowson & Landau 1982; FID, Heusel et al. 2017).

    The trace of the matrix square root is the sum of the square roots of the eigenvalues of
    ``sigma1^(1/2) sigma2 sigma1^(1/2)``, a symmetric positive semi-definite matrix (computed with ``eigh``, which
    stays real where ``sqrtm`` of the non-symmetric product can turn complex).

    Args:
        mu1, mu2: means, ``(D,)``.
        sigma1, sigma2: covariances, ``(D, D)``, symmetric positive semi-definite.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    trace_root = np.sqrt(np.clip(inner, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_root)


def fid(real, fake) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (sample mean, unbiased covariance).

    Raises:
        GenForgeError: a set is not a finite ``(N, D)`` array with ``N >= 2``, or the widths differ.
    """
    real, fake = _features(real, "real features"), _features(fake, "generated features")
    _same_width(real, fake)
    return frechet_distance(real.mean(0), np.cov(real, rowvar=False), fake.mean(0), np.cov(fake, rowvar=False))


def _same_width(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise GenForgeError(f"feature widths differ: {a.shape[1]} and {b.shape[1]}")


def mmd2_unbiased(x, y) -> float:
    """The unbiased estimate of the squared MMD with the cubic polynomial kernel ``k(a, b) = (a.b / D + 1)^3``
    (KID, Binkowski et al. 2018, eq. 2 and sec. 4): the means of ``k`` over distinct pairs within ``x`` and within
    ``y``, minus twice its mean over all pairs across."""
    x, y = _features(x, "real features"), _features(y, "generated features")
    _same_width(x, y)
    d = x.shape[1]
    kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
    m, n = len(x), len(y)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2 * kxy.mean())


def kid(real, fake, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> dict[str, float]:
    """KID: the mean and standard deviation of :func:`mmd2_unbiased` over ``subsets`` random subsets of
    ``min(subset_size, len(real), len(fake))`` rows of each set, drawn without replacement with ``seed`` (as
    Binkowski et al. 2018 and torch-fidelity report it).

    Returns:
        ``{"mean", "std", "subsets", "subset_size"}``.
    """
    real, fake = _features(real, "real features"), _features(fake, "generated features")
    size = min(subset_size, len(real), len(fake))
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(real[rng.choice(len(real), size, replace=False)],
                            fake[rng.choice(len(fake), size, replace=False)]) for _ in range(subsets)]
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "subsets": subsets, "subset_size": size}


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
    real, fake = _features(real, "real features", k + 1), _features(fake, "generated features", k + 1)
    _same_width(real, fake)
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
    samples, train = _features(samples, "samples", 1), _features(train, "training images", n)
    _same_width(samples, train)
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
    p = _features(probabilities, "class probabilities", 1)
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
