"""Efficiency figures every modality reports: percentiles of timings and the process's peak memory."""

from __future__ import annotations

import resource
import sys

import numpy as np


def percentile(values, q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values`` with linear interpolation between order statistics
    (NumPy's default ``"linear"`` method; Hyndman & Fan, 1996, *Sample Quantiles in Statistical Packages*,
    definition 7).

    Raises:
        ValueError: no values, or ``q`` outside ``[0, 100]``.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)  # halfway between 2 and 3
    2.5
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0 or not 0 <= q <= 100:
        raise ValueError(f"percentile needs values and q in [0, 100] (got {v.size} values, q={q})")
    return float(np.percentile(v, q))


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (``getrusage`` ``ru_maxrss``: KiB on Linux, bytes on
    macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024
