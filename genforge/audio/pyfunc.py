"""The MLflow pyfunc flavour of a tune generator: ``mlflow.pyfunc.load_model(uri).predict(df)`` and ``mlflow models
serve`` take one seed per row and return the sampled tune as ABC, and, when it parses, as base64 MIDI and WAV."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from genforge import GenForgeError
from genforge.core import tracking
from genforge.core.serving import checked_seeds, invalid_input

SETTINGS = "settings.json"  # artifact: prompt, min_notes, program, tempo, sample_rate, clip_seconds


def compose(model, tokenizer, settings: dict, soundfont: str | Path, seed: int, *, temperature: float,
            max_new_tokens: int) -> dict:
    """One tune of seed ``seed``: ``{"abc", "parsed", "midi", "wav"}`` (``midi`` and ``wav`` base64, empty when
    the tune does not parse). The CLI and the served model both answer through this function, so the same seed gives
    the same piece.

    Raises:
        GenForgeError: the soundfont is missing, or an argument is out of range.
    """
    from genforge.audio.abc import parsed_events
    from genforge.audio.render import midi_bytes, wav_bytes
    from genforge.audio.sampling import sample_tunes

    tune = sample_tunes(model, tokenizer, prompt=settings["prompt"], n=1, max_tokens=max_new_tokens,
                        temperature=temperature, seed=seed)[0]
    melody = parsed_events(tune, settings["min_notes"])
    out = {"abc": tune, "parsed": melody is not None, "midi": "", "wav": ""}
    if melody is not None:
        render = {"program": settings["program"], "tempo": settings["tempo"], "max_seconds": settings["clip_seconds"]}
        out["midi"] = base64.b64encode(midi_bytes(melody, **render)).decode()
        out["wav"] = base64.b64encode(wav_bytes(melody, soundfont, sample_rate=settings["sample_rate"],
                                                **render)).decode()
    return out


class TuneGenerator(mlflow.pyfunc.PythonModel):
    """Samples tunes with a model folder written by the optimize stage, and renders them with the soundfont logged
    beside it. Input: a DataFrame with an integer column ``seed`` (one tune per row). Params: ``temperature``
    (float) and ``max_new_tokens`` (int), by default the evaluate stage's. Output: columns ``abc`` (string),
    ``parsed`` (bool), ``midi`` and ``wav`` (base64 strings, empty when the tune does not parse)."""

    def load_context(self, context):
        from genforge.text.models import load_generator

        self.model, self.tokenizer = load_generator(context.artifacts["generator"])
        self.settings = json.loads(Path(context.artifacts["settings"]).read_text())
        self.soundfont = context.artifacts["soundfont"]

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """One tune per row of ``model_input["seed"]`` (see the class)."""
        params = {**self.settings["defaults"], **(params or {})}
        try:
            rows = [compose(self.model, self.tokenizer, self.settings, self.soundfont, seed,
                            temperature=float(params["temperature"]), max_new_tokens=int(params["max_new_tokens"]))
                    for seed in checked_seeds(model_input)]
        except GenForgeError as e:
            raise invalid_input(str(e)) from None
        return pd.DataFrame(rows, columns=["abc", "parsed", "midi", "wav"])


def signature(defaults: dict):
    """An integer column ``seed`` in; ``abc``, ``parsed``, ``midi`` and ``wav`` out; the params ``temperature`` and
    ``max_new_tokens`` with ``defaults``."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("long", "seed")]),
        outputs=Schema([ColSpec("string", "abc"), ColSpec("boolean", "parsed"), ColSpec("string", "midi"),
                        ColSpec("string", "wav")]),
        params=ParamSchema([ParamSpec("temperature", "double", float(defaults["temperature"])),
                            ParamSpec("max_new_tokens", "long", int(defaults["max_new_tokens"]))]),
    )


def log_tune_generator(job, run_id: str, registered_name: str) -> int:
    """Log the optimized model folder, the soundfont and the rendering settings of generator ``job`` as the pyfunc
    model ``model`` of the run (:class:`TuneGenerator`), and register it as a new version of ``registered_name``;
    return the version number.

    Raises:
        GenForgeError: the soundfont is missing or not a SoundFont 2 file.
    """
    import tempfile

    from genforge.audio.render import check_soundfont
    from genforge.audio.stages.preprocess import MELODIES
    from genforge.core.files import read_json

    cfg = job.evaluate
    soundfont = check_soundfont(Path(job.paths.raw) / cfg.soundfont)
    settings = {"prompt": cfg.prompt, "program": cfg.program, "tempo": cfg.tempo, "sample_rate": cfg.sample_rate,
                "clip_seconds": cfg.clip_seconds,
                "min_notes": read_json(Path(job.paths.processed) / MELODIES)["min_notes"],
                "defaults": {"temperature": cfg.temperature, "max_new_tokens": cfg.sample_tokens}}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / SETTINGS).write_text(json.dumps(settings))
        return tracking.log_model(
            run_id, python_model=Path(__file__).with_name("pyfunc_model.py"),
            artifacts={"generator": str(job.paths.optimized), "settings": str(Path(tmp) / SETTINGS),
                       "soundfont": str(soundfont)},
            signature=signature(settings["defaults"]),
            pip_requirements=tracking.pinned(("keras", "tensorflow-cpu", "numpy", "pandas", "mlflow", "music21",
                                              "symusic")),
            registered_name=registered_name, modality="audio",
            input_example=(pd.DataFrame({"seed": [1]}), {"max_new_tokens": 40}))
