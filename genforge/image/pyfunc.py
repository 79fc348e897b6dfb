"""The MLflow pyfunc flavour of an image generator: ``mlflow.pyfunc.load_model(uri).predict(df)`` and
``mlflow models serve`` draw images and return them as base64 PNG."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd

from genforge.core import tracking

MAX_IMAGES = 1024  # images one request may ask for (each row: up to this many)


class ImageGenerator(mlflow.pyfunc.PythonModel):
    """Draws images with a generator folder written by the optimize stage (:mod:`genforge.image.store`).

    Input: a DataFrame with integer columns ``num_images`` (1..:data:`MAX_IMAGES`) and ``seed``, one request per row
    (MLflow's server also takes ``{"inputs": {"num_images": 4, "seed": 1}}``); an optional integer column ``label``
    asks a class-conditional generator for one class (-1 or missing: the classes in turn). Output: one row per
    image: ``request`` (the input row), ``index`` (within the request), ``label`` (the class asked, -1 for an
    unconditional generator) and ``image`` (a base64 PNG). Row ``r`` draws with its own seed: the same seed gives the
    same images as ``genforge generate`` and :func:`genforge.image.sampling.generate`.
    """

    def load_context(self, context):
        from genforge.image.store import load_generator

        self.network, self.spec = load_generator(context.artifacts["generator"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Draw the images of each request row.

        Raises:
            MlflowException: (``INVALID_PARAMETER_VALUE``, HTTP 400 through ``mlflow models serve``) a missing
                column, a ``num_images`` outside 1..:data:`MAX_IMAGES`, or a label the generator cannot take.
        """
        from genforge.image.grid import png_base64
        from genforge.image.sampling import generate

        rows = []
        for r, (n, seed, label) in enumerate(checked_requests(model_input, self.spec)):
            labels = None if label < 0 else np.full(n, label)
            try:
                images = generate(self.network, self.spec, n, seed, labels=labels)
            except ValueError as e:
                raise _invalid(f"row {r}: {e}") from None
            classes = labels if labels is not None else (
                np.arange(n) % self.spec["num_classes"] if self.spec.get("num_classes") else np.full(n, -1))
            rows += [{"request": r, "index": i, "label": int(classes[i]), "image": png_base64(images[i])}
                     for i in range(n)]
        return pd.DataFrame(rows, columns=["request", "index", "label", "image"])


def _invalid(message: str):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def checked_requests(model_input: pd.DataFrame, spec: dict) -> list[tuple[int, int, int]]:
    """``(num_images, seed, label)`` of each row.

    Raises:
        MlflowException: (``INVALID_PARAMETER_VALUE``) a missing column, or a value that is missing, not an
            integer, or out of range; the message names the row and the value.
    """
    missing = [c for c in ("num_images", "seed") if c not in model_input.columns]
    if missing:
        raise _invalid(f"the input needs the columns num_images and seed; missing: {', '.join(missing)}")
    out = []
    for r, row in enumerate(model_input.to_dict("records")):
        values = {}
        for key in ("num_images", "seed", "label"):
            value = row.get(key, -1)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise _invalid(f"row {r}: {key} must be an integer, got {value!r}")
            values[key] = int(value)
        if not 1 <= values["num_images"] <= MAX_IMAGES:
            more = "; ask for more in several requests" if values["num_images"] > MAX_IMAGES else ""
            raise _invalid(f"row {r}: num_images must be between 1 and {MAX_IMAGES}, got {values['num_images']}"
                           + more)
        classes = spec.get("num_classes", 0)
        if values["label"] != -1 and not 0 <= values["label"] < classes:
            raise _invalid(f"row {r}: label {values['label']} is not a class of this generator "
                           f"({'0..' + str(classes - 1) if classes else 'it is unconditional: use -1'})")
        out.append((values["num_images"], values["seed"], values["label"]))
    return out


def signature():
    """Integer columns ``num_images``, ``seed`` and optional ``label`` in; ``request``, ``index``, ``label`` and
    base64 PNG ``image`` out."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("long", "num_images"), ColSpec("long", "seed"),
                       ColSpec("long", "label", required=False)]),
        outputs=Schema([ColSpec("long", "request"), ColSpec("long", "index"), ColSpec("long", "label"),
                        ColSpec("string", "image")]),
    )


def log_generator(run_id: str, model_dir: Path, registered_name: str) -> int:
    """Log the generator folder ``model_dir`` as the pyfunc model ``model`` of the run (:class:`ImageGenerator`,
    :func:`signature`, an input example of 4 images of seed 1) and register it as a new version of
    ``registered_name``; return the version number."""
    requirements = tracking.pinned(("keras", "tensorflow-cpu", "numpy", "pandas", "mlflow", "pillow",
                                    "ai-edge-litert"))
    return tracking.log_model(run_id, python_model=Path(__file__).with_name("pyfunc_model.py"),
                              artifacts={"generator": str(model_dir)}, signature=signature(),
                              pip_requirements=requirements,
                              registered_name=registered_name, modality="image",
                              input_example=pd.DataFrame({"num_images": [4], "seed": [1]}))
