"""A video generator on disk: the folder the train and optimize stages write and the evaluate stage, the registered
model and the CLI read: ``predictor.keras`` (the Keras model) and ``spec.json`` (:func:`genforge.video.training.spec`:
arch, context, horizon, frame shape)."""

from __future__ import annotations

from pathlib import Path

from genforge import GenForgeError
from genforge.core.files import read_json, write_json

PREDICTOR = "predictor.keras"
SPEC = "spec.json"


def save_predictor(folder: Path, model, spec: dict) -> None:
    """Write ``folder/predictor.keras`` and ``folder/spec.json``."""
    model.save(folder / PREDICTOR)
    write_json(folder / SPEC, spec)


def load_predictor(folder: str | Path) -> tuple[object, dict]:
    """``(model, spec)`` of a predictor folder.

    Raises:
        GenForgeError: the folder, its spec or its model file is missing or unreadable (named).
    """
    import keras

    from genforge.video.models import custom_objects

    folder = Path(folder)
    spec = read_json(folder / SPEC)
    path = folder / PREDICTOR
    if not path.is_file():
        raise GenForgeError(f"{path}: the predictor is missing; re-run the train and optimize stages")
    try:
        return keras.saving.load_model(path, compile=False, custom_objects=custom_objects()), spec
    except (OSError, ValueError) as e:
        raise GenForgeError(f"{path}: cannot load the Keras model ({e}); re-run the train stage") from e
