"""The promotion gate: thresholds a model's evaluation must meet before it may get a registry alias."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# gate param -> (metric key in the flattened evaluate.json, comparison that passes)
CHECKS: dict[str, tuple[str, str]] = {
    "max_bits_per_character": ("bits_per_character", "<="),
    "max_memorized_share": ("samples.memorized_share", "<="),
    "min_distinct_2": ("samples.distinct_2", ">="),
    "max_nonfinite_losses": ("stability.nonfinite_losses", "<="),
}


def check_gate(metrics: Mapping[str, Any], thresholds: Mapping[str, float]) -> dict[str, Any]:
    """Compare flattened evaluation metrics with the gate's thresholds.

    Args:
        metrics: flattened metrics (``{"bits_per_character": 2.3, "samples.distinct_2": 0.7, ...}``).
        thresholds: ``{gate param: threshold}`` with params named in :data:`CHECKS` (``max_*`` passes when the
            metric is at most the threshold, ``min_*`` when at least). A NaN or missing metric fails its check.

    Returns:
        ``{"passed": bool, "checks": [{"check", "metric", "value", "op", "threshold", "passed"}, ...],
        "reasons": ["<metric> <value> is not <op> <threshold>", ...]}`` (reasons lists the failed checks).

    Raises:
        KeyError: a threshold name is not in :data:`CHECKS`.

    >>> check_gate({"bits_per_character": 6.2}, {"max_bits_per_character": 3.0})["reasons"]
    ['bits_per_character 6.2 is not <= 3']
    """
    checks, reasons = [], []
    for name, threshold in thresholds.items():
        metric, op = CHECKS[name]
        value = metrics.get(metric)
        value = float("nan") if value is None else float(value)
        ok = (value <= threshold) if op == "<=" else (value >= threshold)
        ok = ok and not math.isnan(value)
        checks.append({"check": name, "metric": metric, "value": value, "op": op, "threshold": threshold,
                       "passed": ok})
        if not ok:
            reasons.append(f"{metric} {value:.4g} is not {op} {threshold:.4g}")
    return {"passed": not reasons, "checks": checks, "reasons": reasons}
