"""Pipeline stages, one module per verb: collect, preprocess, train, optimize, evaluate, register.

Each module has a pure function named after its verb that takes the validated params and returns a small result
record, and a ``main()`` that dvc.yaml calls (``python -m tasks.<verb>``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from genforge import GenForgeError
from genforge.text.config import Params, load_params


def run_stage(verb: str, fn: Callable[[Params], dict[str, Any]], argv: list[str] | None = None) -> int:
    """Load params (``params.yaml`` or the path in ``argv[0]``), size TensorFlow's thread pools
    (:func:`genforge.core.trainer.set_threads`), run ``fn``, print its result record.

    A :class:`GenForgeError` is printed as ``<verb>: error: <message>`` and gives exit code 2; earlier outputs are
    untouched because every stage writes through temporary paths.
    """
    argv = sys.argv[1:] if argv is None else argv
    try:
        params = load_params(argv[0]) if argv else load_params()
        if params.train.intra_op_threads or params.train.inter_op_threads:
            from genforge.core.trainer import set_threads  # imports Keras: only for the stages that need it

            set_threads(params.train)  # before the stage starts TensorFlow
        result = fn(params)
    except GenForgeError as e:
        print(f"{verb}: error: {e}", file=sys.stderr)
        return 2
    print(f"{verb}: done: " + ", ".join(f"{k}={v}" for k, v in result.items()))
    return 0
