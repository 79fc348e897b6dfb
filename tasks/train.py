"""train: the train stage of one generator, done by its modality (`python -m tasks.train <generator>`)."""

from __future__ import annotations

from genforge.core.config import ParamsBase, job
from genforge.core.modality import get_modality


def train(params: ParamsBase, name: str) -> dict:
    """Run the train stage of generator ``name`` (see the modality's ``train``, for text
    :func:`genforge.text.stages.train.train`)."""
    generator = job(params, name)
    return get_modality(generator.modality).train(generator)


def main() -> int:
    from tasks import stage_main

    return stage_main("train", train)


if __name__ == "__main__":
    raise SystemExit(main())
