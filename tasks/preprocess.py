"""preprocess: the preprocess stage of one generator, by its modality (`python -m tasks.preprocess <generator>`)."""

from __future__ import annotations

from genforge.core.config import ParamsBase, job
from genforge.core.modality import get_modality


def preprocess(params: ParamsBase, name: str) -> dict:
    """Run the preprocess stage of generator ``name`` (see the modality's ``preprocess``, for text
    :func:`genforge.text.stages.preprocess.preprocess`)."""
    generator = job(params, name)
    return get_modality(generator.modality).preprocess(generator)


def main() -> int:
    from tasks import stage_main

    return stage_main("preprocess", preprocess)


if __name__ == "__main__":
    raise SystemExit(main())
