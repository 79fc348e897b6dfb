"""Training stability: non-finite losses, loss spikes, per-batch losses from Keras' running means, and the spread of
a metric over training seeds."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def step_losses(path: str | Path) -> list[float]:
    """The ``loss`` column of a train stage's ``train_steps.csv`` (one row per training step), in order; ``[]`` when
    the file does not exist (a model trained before the file was written)."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


def batch_losses(running_means: Sequence[float]) -> np.ndarray:
    """Per-batch losses of one epoch from the running means Keras 3 reports after each batch.

    Keras' ``logs["loss"]`` after batch ``k`` (1-based) is the mean of batches ``1..k`` of the epoch, so batch ``k``'s
    own loss is ``k * m_k - (k - 1) * m_{k-1}`` (computed in float64).

    Args:
        running_means: the ``loss`` logged after each batch of one epoch, in order.

    Returns:
        float64 array of the same length. Once a mean is NaN or infinite, every later batch is NaN, since the running
        mean no longer tells its batches apart.

    >>> batch_losses([2.0, 1.5, 1.0]).tolist()  # batches 2.0, 1.0, 0.0
    [2.0, 1.0, 0.0]
    """
    m = np.asarray(running_means, dtype=np.float64)
    k = np.arange(1, m.size + 1, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        prev = np.concatenate([[0.0], m[:-1]])
        out = k * m - (k - 1) * prev
    bad = ~np.isfinite(m)
    if bad.any():
        out[int(np.argmax(bad)):] = np.nan
    return out


def nonfinite_count(losses: Sequence[float]) -> int:
    """Number of losses that are NaN or infinite."""
    return int((~np.isfinite(np.asarray(losses, dtype=np.float64))).sum())


def loss_spikes(losses: Sequence[float], *, window: int = 20, rise: float = 0.2) -> int:
    """Number of loss spikes: finite steps whose loss exceeds the median of the previous ``window`` finite losses by
    more than the fraction ``rise`` (``loss_t > (1 + rise) * median``). The first ``window`` steps are never
    spikes (no baseline yet). A rolling-median rule of this kind is how spikes are flagged in large-model training
    logs (Chowdhery et al., 2022, *PaLM*, sec. 5.1, describe the spikes; the threshold here is ours).

    Args:
        losses: per-step training losses in order (nats).
        window: steps in the baseline median, ``>= 1``.
        rise: relative rise that counts as a spike, ``> 0``.

    Raises:
        ValueError: ``window < 1`` or ``rise <= 0``.

    >>> loss_spikes([1.0] * 5 + [1.3, 1.0, 1.1], window=3, rise=0.2)  # 1.3 > 1.2 * 1.0; 1.1 is not
    1
    """
    if window < 1 or not rise > 0:
        raise ValueError(f"window must be >= 1 and rise > 0 (got {window}, {rise})")
    finite = [float(x) for x in losses if math.isfinite(x)]
    spikes = 0
    for t in range(window, len(finite)):
        if finite[t] > (1 + rise) * float(np.median(finite[t - window:t])):
            spikes += 1
    return spikes


def seed_spread(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (``ddof=1``; 0.0 for a single value) of a metric over training seeds.

    Returns:
        ``{"mean", "std", "n"}``.

    Raises:
        ValueError: no values.

    >>> round(seed_spread([2.0, 2.2, 2.4])["std"], 12)  # sqrt((0.04 + 0 + 0.04) / 2)
    0.2
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("seed_spread needs at least one value")
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size)}
