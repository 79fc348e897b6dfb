"""optimize: the optimize stage of one generator, done by its modality (`python -m tasks.optimize <generator>`)."""

from __future__ import annotations

from genforge.core.config import ParamsBase, job
from genforge.core.modality import get_modality


def optimize(params: ParamsBase, name: str) -> dict:
    """Run the optimize stage of generator ``name`` (see the modality's ``optimize``, for text
    :func:`genforge.text.stages.optimize.optimize`)."""
    generator = job(params, name)
    return get_modality(generator.modality).optimize(generator)


def main() -> int:
    from tasks import stage_main

    return stage_main("optimize", optimize)


if __name__ == "__main__":
    raise SystemExit(main())
