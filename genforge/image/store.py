"""An image generator on disk: the folder the train and optimize stages write and the evaluate stage, the registered
model and the CLI read.

- ``generator.keras`` (or the ``.tflite`` file ``spec.json`` names as ``network``): the generator network;
- ``spec.json``: its sampling spec (:mod:`genforge.image.sampling`) plus ``classes``, the class names;
- ``encoder.keras``: a VAE's encoder (the evaluate stage's negative ELBO needs it).
"""

from __future__ import annotations

from pathlib import Path

from genforge import GenForgeError
from genforge.core.files import read_json, write_json

GENERATOR = "generator.keras"
ENCODER = "encoder.keras"
SPEC = "spec.json"


def save_generator(folder: Path, network, spec: dict, classes: list[str], encoder=None) -> None:
    """Write ``folder/generator.keras``, ``spec.json`` (``spec`` plus ``classes``) and, given one, ``encoder.keras``."""
    network.save(folder / GENERATOR)
    if encoder is not None:
        encoder.save(folder / ENCODER)
    write_json(folder / SPEC, {**spec, "classes": classes})


def load_generator(folder: str | Path) -> tuple[object, dict]:
    """``(network, spec)`` of a generator folder: the Keras network, or a
    :class:`genforge.core.litert.LiteRTNetwork` when the spec names a ``.tflite`` file.

    Raises:
        GenForgeError: the folder, its spec or its network file is missing or unreadable (named).
    """
    folder = Path(folder)
    spec = read_json(folder / SPEC)
    path = folder / spec.get("network", GENERATOR)
    if not path.is_file():
        raise GenForgeError(f"{path}: the generator network is missing; re-run the train and optimize stages")
    if path.suffix == ".tflite":
        from genforge.core.litert import LiteRTNetwork

        return LiteRTNetwork(path), spec
    import keras

    try:
        return keras.saving.load_model(path, compile=False), spec
    except (OSError, ValueError) as e:
        raise GenForgeError(f"{path}: cannot load the Keras network ({e}); re-run the train stage") from e
