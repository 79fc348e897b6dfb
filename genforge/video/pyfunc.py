"""The MLflow pyfunc flavour of a video generator: ``mlflow.pyfunc.load_model(uri).predict(df)`` and ``mlflow models
serve`` take context frames as base64 PNG and return the generated frames the same way."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from genforge import GenForgeError
from genforge.core import tracking

MAX_FRAMES = 100  # frames one request may ask for


def predict_frames(model, spec: dict, clip: np.ndarray, num_frames: int) -> np.ndarray:
    """The ``num_frames`` frames ``uint8 (num_frames, H, W, 1)`` that follow ``clip`` (``uint8 (T, H, W, 1)``):
    the last ``spec["context"]`` frames of the clip are the context (:func:`genforge.video.models.generate`). The
    CLI and the served model both answer through this function, so the same clip gives the same frames.

    Raises:
        GenForgeError: the clip has fewer frames than the context, frames of another size than the model's, or
            ``num_frames`` is outside 1..:data:`MAX_FRAMES`.
    """
    from genforge.video.media import to_uint8
    from genforge.video.models import generate

    k, shape = spec["context"], tuple(spec["frame_shape"])
    if len(clip) < k:
        raise GenForgeError(f"the clip has {len(clip)} frames; this model needs {k} frames of context")
    if clip.shape[1:] != shape:
        raise GenForgeError(f"the frames are {clip.shape[2]}x{clip.shape[1]}; this model takes {shape[1]}x{shape[0]} "
                            "grayscale frames: resize the clip first")
    if not 1 <= num_frames <= MAX_FRAMES:
        raise GenForgeError(f"num_frames must be between 1 and {MAX_FRAMES}, got {num_frames}")
    context = clip[None, -k:].astype(np.float32) / 255
    return to_uint8(generate(model, spec, context, num_frames)[0])


class VideoGenerator(mlflow.pyfunc.PythonModel):
    """Continues clips with a predictor folder written by the optimize stage (:mod:`genforge.video.store`).

    Input: a DataFrame with a column ``frames`` (per row, a list of base64 PNG frames: the clip, at least the
    model's context long) and an optional integer column ``num_frames`` (frames to generate; default: the model's
    horizon). Output: one row per input row: ``request`` (the input row) and ``frames`` (the generated frames, base64
    PNG).
    """

    def load_context(self, context):
        from genforge.video.store import load_predictor

        self.model, self.spec = load_predictor(context.artifacts["predictor"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Generate the frames of each request row.

        Raises:
            MlflowException: (``INVALID_PARAMETER_VALUE``, HTTP 400 through ``mlflow models serve``) a missing
                ``frames`` column, frames that do not decode or differ in size, too few frames, or a bad
                ``num_frames``; the message names the row.
        """
        from genforge.video.media import frames_from_base64, png_base64

        if "frames" not in model_input.columns:
            raise _invalid(f"the input needs the column frames (a list of base64 PNG frames per row); got the "
                           f"columns {', '.join(map(str, model_input.columns)) or 'none'}")
        rows = []
        for r, row in enumerate(model_input.to_dict("records")):
            n = row.get("num_frames")
            n = self.spec["horizon"] if n is None or (isinstance(n, float) and np.isnan(n)) else n
            try:
                if not _is_integer(n):
                    raise GenForgeError(f"num_frames must be an integer, got {n!r}")
                frames = row["frames"]
                if isinstance(frames, str) or not hasattr(frames, "__len__"):
                    raise GenForgeError("frames must be a list of base64 PNG frames")
                out = predict_frames(self.model, self.spec, frames_from_base64(list(frames)), int(n))
            except GenForgeError as e:
                raise _invalid(f"row {r}: {e}") from None
            rows.append({"request": r, "frames": [png_base64(f) for f in out]})
        return pd.DataFrame(rows, columns=["request", "frames"])


def _is_integer(value) -> bool:
    try:
        return not isinstance(value, bool) and float(value).is_integer()
    except (TypeError, ValueError, OverflowError):
        return False


def _invalid(message: str):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def signature():
    """A list of base64 PNG ``frames`` and an optional integer ``num_frames`` in; ``request`` and the generated
    ``frames`` out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    from mlflow.types.schema import Array

    return ModelSignature(
        inputs=Schema([ColSpec(Array("string"), "frames"), ColSpec("long", "num_frames", required=False)]),
        outputs=Schema([ColSpec("long", "request"), ColSpec(Array("string"), "frames")]),
    )


def log_predictor(run_id: str, model_dir: Path, registered_name: str) -> int:
    """Log the predictor folder ``model_dir`` as the pyfunc model ``model`` of the run (:class:`VideoGenerator`,
    :func:`signature`, an input example of blank context frames asking for 2 frames) and register it as a new
    version of ``registered_name``; return the version number."""
    from genforge.core.files import read_json
    from genforge.video.media import png_base64
    from genforge.video.store import SPEC

    spec = read_json(Path(model_dir) / SPEC)
    blank = np.zeros((spec["context"], *spec["frame_shape"]), np.uint8)
    example = pd.DataFrame({"frames": [[png_base64(f) for f in blank]], "num_frames": [2]})
    requirements = tracking.pinned(("keras", "tensorflow-cpu", "numpy", "pandas", "mlflow", "pillow"))
    return tracking.log_model(run_id, python_model=Path(__file__).with_name("pyfunc_model.py"),
                              artifacts={"predictor": str(model_dir)}, signature=signature(),
                              pip_requirements=requirements, registered_name=registered_name, modality="video",
                              input_example=example)
