"""The promotion gate: rules a model's evaluation must meet before it may get a registry alias."""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any

from genforge.core.config import GateRule

OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


def check_gate(metrics: Mapping[str, Any], rules: Sequence[GateRule]) -> dict[str, Any]:
    """Check flattened evaluation metrics against the gate's rules.

    Args:
        metrics: flattened metrics (``{"bits_per_character": 2.3, "samples.distinct_2": 0.7, ...}``).
        rules: the ``evaluate.gate`` rules of a generator (``metric op threshold``). A missing, non-numeric or NaN
            metric fails its rule.

    Returns:
        ``{"passed": bool, "checks": [{"metric", "value", "op", "threshold", "passed"}, ...],
        "reasons": ["<metric> <value> is not <op> <threshold>", ...]}`` (reasons lists the failed checks; a missing
        metric's reason says so).

    >>> rule = GateRule(metric="bits_per_character", op="<=", threshold=3)
    >>> check_gate({"bits_per_character": 6.2}, [rule])["reasons"]
    ['bits_per_character 6.2 is not <= 3']
    """
    checks, reasons = [], []
    for rule in rules:
        value = metrics.get(rule.metric)
        try:
            number = float("nan") if value is None or isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            number = float("nan")
        ok = not math.isnan(number) and OPS[rule.op](number, rule.threshold)
        checks.append({"metric": rule.metric, "value": number, "op": rule.op, "threshold": rule.threshold,
                       "passed": ok})
        if value is None:
            reasons.append(f"{rule.metric} is not in the evaluation (a metric of evaluate.json, flattened with '.')")
        elif not ok:
            reasons.append(f"{rule.metric} {number:.4g} is not {rule.op} {rule.threshold:.4g}")
    return {"passed": not reasons, "checks": checks, "reasons": reasons}
