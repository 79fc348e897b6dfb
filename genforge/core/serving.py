"""What the served models of several modalities check in the same way: the error MLflow turns into HTTP 400, and
a request's ``seed`` column."""

from __future__ import annotations

import math

import numpy as np

MAX_SEED = 2**62  # seeds are int64 in the samplers, and row i of a request may draw with seed + i


def invalid_input(message: str):
    """An ``MlflowException`` with ``INVALID_PARAMETER_VALUE``: ``mlflow models serve`` answers it with HTTP 400 and
    ``message``."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def checked_seeds(model_input, what: str = "tune") -> list[int]:
    """The ``seed`` column of a request (a pandas DataFrame, one ``what`` per row) as non-negative ints.

    Raises:
        MlflowException: (``INVALID_PARAMETER_VALUE``, HTTP 400) no ``seed`` column or two, or a row whose seed is
            not a whole number in ``[0, MAX_SEED)`` (named by row).
    """
    if list(model_input.columns).count("seed") != 1:
        raise invalid_input(f"the input needs one 'seed' column (columns: {', '.join(map(str, model_input.columns))})"
                            f"; send one seed per {what}, such as {{\"inputs\": {{\"seed\": [3]}}}}")
    seeds = model_input["seed"].tolist()
    bad = [i for i, s in enumerate(seeds) if isinstance(s, bool) or not isinstance(s, int | float | np.integer)
           or not math.isfinite(s) or not 0 <= s < MAX_SEED or int(s) != s]
    if bad:
        raise invalid_input(f"seed must be a whole number from 0 to {MAX_SEED - 1} in every row; not in "
                            + ", ".join(f"row {i} ({seeds[i]!r})" for i in bad[:5])
                            + (f" and {len(bad) - 5} more rows" if len(bad) > 5 else ""))
    return [int(s) for s in seeds]
