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
        GenForgeError: the folder, its spec or the model file is missing or unreadable (named), or the spec does
            not fit the model (:func:`check_spec`).
    """
    import keras

    folder = Path(folder)
    spec = read_json(folder / SPEC)
    path = folder / file
    if not path.is_file():
        raise GenForgeError(f"{path}: the model is missing; re-run the train and optimize stages")
    try:
        generator = keras.saving.load_model(path, compile=False)
    except (OSError, ValueError) as e:
        raise GenForgeError(f"{path}: cannot load the Keras model ({e}); re-run the train stage") from e
    check_spec(generator, spec, folder / SPEC)
    return generator, spec


def face_count(generator) -> int:
    """The target faces a zi2zi generator's embedding holds; 0 for a generator of one face (one input)."""
    tables = [layer for layer in generator.layers if type(layer).__name__ == "Embedding"]
    return int(tables[0].input_dim) if tables and len(generator.inputs) > 1 else 0


def check_spec(generator, spec: dict, path: Path) -> None:
    """Raises:
        GenForgeError: ``spec`` (read from ``path``) does not fit ``generator``: a zi2zi spec's ``faces`` are not as
            many as the generator's face embedding holds, its ``default_face`` is missing or not among them, or a
            spec names faces for a generator of one face, or none for a zi2zi generator. Re-run the train stage."""
    faces, count = spec.get("faces") or [], face_count(generator)
    problem = (f"it lists {len(faces)} faces, the generator draws {count}" if len(faces) != count else
               f"its default_face {spec.get('default_face')!r} is not among its faces {faces}"
               if faces and spec.get("default_face") not in faces else "")
    if problem:
        raise GenForgeError(f"{path} does not fit the generator beside it: {problem}; re-run the train stage")
