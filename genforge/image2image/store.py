"""An image-to-image generator on disk: the folder the train and optimize stages write and the evaluate stage, the
registered model and the CLI read: ``generator.keras`` (the Keras generator), ``spec.json`` (arch, image shape),
where the L1-only baseline was trained beside it ``baseline.keras``, and after optimize the int8 copy of the
generator's weights, ``generator.int8.npz`` (:mod:`genforge.image2image.quantize`)."""

from __future__ import annotations

from pathlib import Path

from genforge import GenForgeError
from genforge.core.files import read_json, write_json

GENERATOR, BASELINE, SPEC, INT8 = "generator.keras", "baseline.keras", "spec.json", "generator.int8.npz"


def save_generator(folder: Path, generator, spec: dict) -> None:
    """Write ``folder/generator.keras`` and ``folder/spec.json``."""
    generator.save(folder / GENERATOR)
    write_json(folder / SPEC, spec)


def load_generator(folder: str | Path, file: str = GENERATOR) -> tuple[object, dict]:
    """``(generator, spec)`` of a generator folder (``file``: :data:`GENERATOR` or :data:`BASELINE`).

    Raises:
        GenForgeError: the folder, its spec or the model file is missing or unreadable (named).
    """
    import keras

    folder = Path(folder)
    spec = read_json(folder / SPEC)
    path = folder / file
    if not path.is_file():
        raise GenForgeError(f"{path}: the model is missing; re-run the train and optimize stages")
    try:
        return keras.saving.load_model(path, compile=False), spec
    except (OSError, ValueError) as e:
        raise GenForgeError(f"{path}: cannot load the Keras model ({e}); re-run the train stage") from e
