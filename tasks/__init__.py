"""Pipeline stages, one module per verb: collect, preprocess, train, optimize, evaluate, register, report.

Each module has a function named after its verb that takes the validated params (and, for the stages of one
generator, the generator's name) and returns a small result record, and a ``main()`` that dvc.yaml calls
(``python -m tasks.<verb> [<generator>]``). The modality-specific part of a stage is the generator's modality's
(:func:`genforge.core.modality.get_modality`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from genforge import GenForgeError
from genforge.core.config import DEFAULT_PARAMS, ParamsBase, load_params


def run_stage(verb: str, fn: Callable[..., dict[str, Any]], argv: list[str] | None = None) -> int:
    """Load params.yaml (``GENFORGE_PARAMS`` overrides the path), run ``fn(params)`` or, with a generator name in
    ``argv``, ``fn(params, name)``, and print its result record.

    A :class:`GenForgeError` is printed as ``<verb>: error: <message>`` and gives exit code 2; earlier outputs are
    untouched because every stage writes through temporary paths.
    """
    import os

    argv = sys.argv[1:] if argv is None else argv
    try:
        params = load_params(os.environ.get("GENFORGE_PARAMS", DEFAULT_PARAMS))
        result = fn(params, *argv[:1])
    except GenForgeError as e:
        print(f"{verb}: error: {e}", file=sys.stderr)
        return 2
    print(f"{verb}: done: " + ", ".join(f"{k}={v}" for k, v in result.items()))
    return 0


def stage_main(verb: str, fn: Callable[..., dict[str, Any]]) -> int:
    """``python -m tasks.<verb> [<generator>]``: :func:`run_stage` on the command line's arguments. The process ends
    when its parent (``dvc repro``) dies, instead of living on as an orphan
    (:func:`genforge.core.locks.end_with_parent`)."""
    from genforge.core.locks import end_with_parent

    end_with_parent()
    if len(sys.argv) > 2:
        print(f"usage: python -m tasks.{verb} [<generator>]", file=sys.stderr)
        return 2
    return run_stage(verb, fn)


__all__ = ["ParamsBase", "run_stage", "stage_main"]
