"""The sections of a waveform generator in params.yaml (``generators.<name>``, ``modality: waveform``), validated
by pydantic with unknown keys rejected by name. The train and optimize sections are the text modality's
(:class:`genforge.text.config.Train`, :class:`~genforge.text.config.Optimize`): the mu-law codes are learned by its
sequence models."""

from __future__ import annotations

import warnings
from typing import ClassVar, Literal

from pydantic import BaseModel, Field, model_validator

from genforge.core.config import GateRule, GeneratorBase, Register, SearchBase, Section
from genforge.text.config import Optimize, Train


class Preprocess(Section):
    format: Literal["wav"]  # WAV files (any encoding libsndfile reads: PCM, float, mu-law, A-law)
    sample_rate: int = Field(ge=1000)  # Hz: every file is mixed to mono and resampled to this rate
    exclude: list[str] = []  # globs over the files' names: left out of every split (named in preprocess.json)
    val_files: list[str] = Field(min_length=1)  # globs over the files' names: the validation split (whole files)
    test_files: list[str] = Field(min_length=1)  # globs over the files' names: the test split, never trained on

    @model_validator(mode="after")
    def _disjoint(self) -> Preprocess:
        both = sorted(set(self.val_files) & set(self.test_files))
        if both:
            raise ValueError(f"preprocess.val_files and preprocess.test_files both name {both}: a file is in one "
                             "split only")
        return self


class Evaluate(Section):
    context: int = Field(ge=2)  # samples per scoring window over the test files (also the optimize stage's)
    num_samples: int = Field(ge=1)  # clips sampled (seeds seed+1, seed+2, ...) for the spectral statistics
    sample_seconds: float = Field(gt=0)  # seconds per sampled clip
    temperature: float = Field(ge=0)  # sampling temperature (0 = greedy)
    frame: int = Field(ge=16)  # log-mel: samples per STFT frame
    hop: int = Field(ge=1)  # log-mel: samples between frames
    mel_bands: int = Field(ge=2)  # log-mel: triangular mel bands
    rendered: int = Field(ge=0)  # sampled clips written as WAV files (MLflow, the report)
    spike_window: int = Field(ge=1)  # a training step is a loss spike when its loss exceeds the median of the previous
    spike_rise: float = Field(gt=0)  # spike_window steps by more than this fraction
    gate: list[GateRule] = Field(min_length=1)


class Search(SearchBase):
    """The search of a waveform generator: over keys of the text modality's train section."""

    train_model: ClassVar[type[BaseModel]] = Train


with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "register"', category=UserWarning)

    class WaveformGenerator(GeneratorBase):
        """A waveform generator of params.yaml ``generators``: one section per stage."""

        modality: Literal["waveform"]
        preprocess: Preprocess
        train: Train
        optimize: Optimize
        evaluate: Evaluate
        register: Register
        search: Search | None = None
