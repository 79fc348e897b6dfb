"""Distances between two sets of feature vectors (a feature network's embeddings of real and generated images):
FID and KID. NumPy only, float64 throughout; every function takes features as ``float (N, D)`` arrays, rows being
samples. Shared by the modalities that score images (their feature networks are their own)."""

from __future__ import annotations

import numpy as np

from genforge import GenForgeError


def feature_matrix(x, name: str, min_rows: int = 2) -> np.ndarray:
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
    real, fake = feature_matrix(real, "real features"), feature_matrix(fake, "generated features")
    same_width(real, fake)
    return frechet_distance(real.mean(0), np.cov(real, rowvar=False), fake.mean(0), np.cov(fake, rowvar=False))


def same_width(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise GenForgeError(f"feature widths differ: {a.shape[1]} and {b.shape[1]}")


def mmd2_unbiased(x, y) -> float:
    """The unbiased estimate of the squared MMD with the cubic polynomial kernel ``k(a, b) = (a.b / D + 1)^3``
    (KID, Binkowski et al. 2018, eq. 2 and sec. 4): the means of ``k`` over distinct pairs within ``x`` and within
    ``y``, minus twice its mean over all pairs across."""
    x, y = feature_matrix(x, "real features"), feature_matrix(y, "generated features")
    same_width(x, y)
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
    real, fake = feature_matrix(real, "real features"), feature_matrix(fake, "generated features")
    size = min(subset_size, len(real), len(fake))
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(real[rng.choice(len(real), size, replace=False)],
                            fake[rng.choice(len(fake), size, replace=False)]) for _ in range(subsets)]
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "subsets": subsets, "subset_size": size}
