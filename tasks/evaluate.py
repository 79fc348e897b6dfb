"""evaluate: the evaluate stage of one generator, done by its modality (`python -m tasks.evaluate <generator>`)."""

from __future__ import annotations

from genforge.core.config import ParamsBase, job
from genforge.core.modality import get_modality


def evaluate(params: ParamsBase, name: str) -> dict:
    """Run the evaluate stage of generator ``name`` (see the modality's ``evaluate``, for text
    :func:`genforge.text.stages.evaluate.evaluate`)."""
    generator = job(params, name)
    return get_modality(generator.modality).evaluate(generator)


def main() -> int:
    from tasks import stage_main

    return stage_main("evaluate", evaluate)


if __name__ == "__main__":
    raise SystemExit(main())
