"""The MLflow pyfunc flavour of a waveform generator: ``mlflow.pyfunc.load_model(uri).predict(df)`` and ``mlflow
models serve`` take one seed per row and return the sampled clip as a base64 WAV file."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from genforge import GenForgeError
from genforge.core import tracking
from genforge.core.serving import checked_seeds, invalid_input

SETTINGS = "settings.json"  # artifact: sample_rate and the default temperature and seconds


def clip_wav(model, sample_rate: int, seed: int, *, seconds: float, temperature: float) -> dict:
    """One clip of seed ``seed``: ``{"wav": base64 16-bit mono WAV, "seconds": its length}``. The CLI and the served
    model both answer through this function, so the same seed gives the same clip.

    Raises:
        GenForgeError: ``seconds`` is not finite, above :data:`~genforge.waveform.config.MAX_SECONDS` or gives no
            sample, or another argument is out of range.
    """
    from genforge.waveform.config import MAX_SECONDS
    from genforge.waveform.mulaw import decode
    from genforge.waveform.sampling import sample_codes
    from genforge.waveform.wav import wav_bytes

    if not math.isfinite(seconds) or seconds > MAX_SECONDS:
        raise GenForgeError(f"seconds must be a finite number up to {MAX_SECONDS} (got {seconds})")
    length = int(round(seconds * sample_rate))
    if length < 1:
        raise GenForgeError(f"seconds must give at least one sample at {sample_rate} Hz (got {seconds})")
    codes = sample_codes(model, n=1, length=length, temperature=temperature, seed=seed)[0]
    return {"wav": base64.b64encode(wav_bytes(decode(codes), sample_rate)).decode(), "seconds": length / sample_rate}


class WaveformClips(mlflow.pyfunc.PythonModel):
    """Samples clips with a model folder written by the optimize stage. Input: a DataFrame with an integer column
    ``seed`` (one clip per row). Params: ``temperature`` (float) and ``seconds`` (float), by default the evaluate
    stage's. Output: columns ``wav`` (base64 WAV, 16-bit mono) and ``seconds`` (float)."""

    def load_context(self, context):
        from genforge.text.models import load_generator

        self.model, _ = load_generator(context.artifacts["generator"])
        self.settings = json.loads(Path(context.artifacts["settings"]).read_text())

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """One clip per row of ``model_input["seed"]`` (see the class)."""
        params = {**self.settings["defaults"], **(params or {})}
        try:
            seconds, temperature = float(params["seconds"]), float(params["temperature"])
        except (TypeError, ValueError):
            raise invalid_input(f"the params seconds and temperature are numbers (got {params['seconds']!r} and "
                                f"{params['temperature']!r})") from None
        try:
            rows = [clip_wav(self.model, self.settings["sample_rate"], seed, seconds=seconds, temperature=temperature)
                    for seed in checked_seeds(model_input, "clip")]
        except GenForgeError as e:
            raise invalid_input(str(e)) from None
        return pd.DataFrame(rows, columns=["wav", "seconds"])


def signature(defaults: dict):
    """An integer column ``seed`` in; ``wav`` and ``seconds`` out; the params ``temperature`` and ``seconds`` with
    ``defaults``."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("long", "seed")]),
        outputs=Schema([ColSpec("string", "wav"), ColSpec("double", "seconds")]),
        params=ParamSchema([ParamSpec("temperature", "double", float(defaults["temperature"])),
                            ParamSpec("seconds", "double", float(defaults["seconds"]))]),
    )


def log_waveform_generator(job, run_id: str, registered_name: str) -> int:
    """Log the optimized model folder and the sampling settings of generator ``job`` as the pyfunc model ``model``
    of the run (:class:`WaveformClips`), and register it as a new version of ``registered_name``; return the
    version number."""
    import tempfile

    from genforge.waveform.stages.preprocess import sample_rate

    cfg = job.evaluate
    settings = {"sample_rate": sample_rate(job),
                "defaults": {"temperature": cfg.temperature, "seconds": cfg.sample_seconds}}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / SETTINGS).write_text(json.dumps(settings))
        return tracking.log_model(
            run_id, python_model=Path(__file__).with_name("pyfunc_model.py"),
            artifacts={"generator": str(job.paths.optimized), "settings": str(Path(tmp) / SETTINGS)},
            signature=signature(settings["defaults"]),
            pip_requirements=tracking.pinned(("keras", "tensorflow-cpu", "numpy", "pandas", "mlflow", "soundfile")),
            registered_name=registered_name, modality="waveform",
            input_example=(pd.DataFrame({"seed": [1]}), {"seconds": 0.05}))
