"""The MLflow pyfunc flavour of an image-to-image generator: ``mlflow.pyfunc.load_model(uri).predict(df)`` and
``mlflow models serve`` take input images as base64 PNG and return the outputs the same way."""

from __future__ import annotations

import base64
import binascii
import io
import shutil
import tempfile
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from genforge import GenForgeError
from genforge.core import tracking


def png_base64(image: np.ndarray) -> str:
    """A ``uint8 (H, W)`` or ``(H, W, 1)`` grayscale image as base64 PNG text."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8).reshape(image.shape[:2])).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def image_from_base64(text: str, name: str = "image") -> np.ndarray:
    """Base64 image text (PNG, JPEG, ...) as grayscale ``uint8 (H, W)``. A data URL's prefix
    (``data:image/png;base64,``) and line breaks or spaces (MIME's 76-character lines) are removed first.

    Raises:
        GenForgeError: not base64, or not an image (named by ``name``).
    """
    from genforge.image2image.pairs import decode_image

    if text.startswith("data:") and ";base64," in text[:100]:
        text = text.split(";base64,", 1)[1]
    text = "".join(text.split())
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError) as e:
        raise GenForgeError(f"{name}: not base64 text ({e})") from None
    return decode_image(data, name)


def predict_images(generator, spec: dict, images: list[np.ndarray], names: list[str],
                   face: str | None = None) -> np.ndarray:
    """The outputs ``uint8 (N, H, W)`` of grayscale inputs ``images`` (each ``uint8 (H, W)``); a zi2zi generator
    draws them in ``face`` (one of ``spec["faces"]``; None: its default face). The CLI and the served model both
    answer through this function, so the same input gives the same output.

    Raises:
        GenForgeError: an input of another size than the model's (named by ``names``: resize it first); a face
            this model does not draw, or any face for a model of one face.
    """
    from genforge.image2image.training import translate

    h, w = spec["image_shape"][:2]
    wrong = [f"{n} ({x.shape[1]}x{x.shape[0]})" for n, x in zip(names, images, strict=True) if x.shape != (h, w)]
    if wrong:
        raise GenForgeError(f"this model translates {w}x{h} images; resize these first: {', '.join(wrong[:10])}")
    return translate(generator, np.stack(images)[..., None], faces=face_indices(spec, face, len(images)))[..., 0]


def face_indices(spec: dict, face: str | None, n: int) -> np.ndarray | None:
    """``n`` copies of the index of ``face`` among a zi2zi generator's faces (None: its default face); None for a
    generator of one face.

    Raises:
        GenForgeError: a face this model does not draw (the message lists those it draws), or a face given to a
            model of one face.
    """
    faces = spec.get("faces")
    if not faces:
        if face is not None:
            raise GenForgeError(f"this model draws one face and takes no face (got {face!r}); a zi2zi generator "
                                "(preprocess.target_faces) draws several")
        return None
    chosen = spec["default_face"] if face is None else face
    if chosen not in faces:
        raise GenForgeError(f"face {chosen!r} is not one this model draws; it draws {', '.join(faces)}")
    return np.full(n, faces.index(chosen), np.int32)


class Translator(mlflow.pyfunc.PythonModel):
    """Translates images with a generator folder written by the optimize stage (:mod:`genforge.image2image.store`).

    Input: a DataFrame with a column ``image`` (per row, one base64 PNG); a zi2zi generator takes the param ``face``
    (one of the faces it draws; its default face when absent). Output: one row per input row: ``request`` (the input
    row) and ``image`` (the output, base64 PNG, grayscale).
    """

    def load_context(self, context):
        from genforge.image2image.store import load_generator

        self.generator, self.spec = load_generator(context.artifacts["generator"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Translate each row's image.

        Raises:
            MlflowException: (``INVALID_PARAMETER_VALUE``, HTTP 400 through ``mlflow models serve``) a missing
                ``image`` column, an image that does not decode or is of another size (the message names the row),
                or a face the model does not draw.
        """
        if "image" not in model_input.columns:
            raise _invalid(f"the input needs the column image (a base64 PNG per row); got the columns "
                           f"{', '.join(map(str, model_input.columns)) or 'none'}")
        names = [f"row {r}" for r in range(len(model_input))]
        if not names:  # an empty request gets an empty answer
            return pd.DataFrame({"request": pd.Series([], dtype="int64"), "image": pd.Series([], dtype=str)})
        try:
            images = [image_from_base64(text, name) if isinstance(text, str) else _not_text(name)
                      for name, text in zip(names, model_input["image"], strict=True)]
            out = predict_images(self.generator, self.spec, images, names, face=(params or {}).get("face"))
        except GenForgeError as e:
            raise _invalid(str(e)) from None
        return pd.DataFrame({"request": range(len(out)), "image": [png_base64(o) for o in out]})


def _not_text(name: str):
    raise GenForgeError(f"{name}: image must be base64 PNG text")


def _invalid(message: str):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def signature(spec: dict | None = None):
    """A base64 PNG ``image`` in; ``request`` and the output ``image`` (base64 PNG) out; for a zi2zi generator
    (``spec`` names ``faces``) the param ``face``, its default face by default."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    faces = (spec or {}).get("faces")
    return ModelSignature(inputs=Schema([ColSpec("string", "image")]),
                          outputs=Schema([ColSpec("long", "request"), ColSpec("string", "image")]),
                          params=ParamSchema([ParamSpec("face", "string", spec["default_face"])]) if faces else None)


def log_translator(run_id: str, model_dir: Path, registered_name: str) -> int:
    """Log the generator and spec of ``model_dir`` as the pyfunc model ``model`` of the run (:class:`Translator`,
    :func:`signature`, a blank input example) and register it as a new version of ``registered_name``; return the
    version number. The baseline beside it is not logged."""
    from genforge.core.files import read_json
    from genforge.image2image.store import GENERATOR, SPEC

    spec = read_json(Path(model_dir) / SPEC)
    blank = np.full(spec["image_shape"][:2], 255, np.uint8)
    requirements = tracking.pinned(("keras", "tensorflow-cpu", "numpy", "pandas", "mlflow", "pillow"))
    with tempfile.TemporaryDirectory(prefix="genforge-translator-") as tmp:
        for name in (GENERATOR, SPEC):
            shutil.copy2(Path(model_dir) / name, Path(tmp) / name)
        return tracking.log_model(run_id, python_model=Path(__file__).with_name("pyfunc_model.py"),
                                  artifacts={"generator": tmp}, signature=signature(spec),
                                  pip_requirements=requirements, registered_name=registered_name,
                                  modality="image2image", input_example=pd.DataFrame({"image": [png_base64(blank)]}))
