"""The sections of a waveform generator in params.yaml (``generators.<name>``, ``modality: waveform``), validated
by pydantic with unknown keys rejected by name. The train and optimize sections are the text modality's
(:class:`genforge.text.config.Train`, :class:`~genforge.text.config.Optimize`): the mu-law codes are learned by its
sequence models."""

from __future__ import annotations

import warnings
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, Field, model_validator

from genforge.core.config import GateRule, GeneratorBase, Register, SearchBase, Section
from genforge.text.config import Optimize, Train

Glob = Annotated[str, Field(min_length=1)]
MAX_SECONDS = 60.0  # the longest clip evaluate samples or the served model answers (8 kHz: 480,000 model steps)


class Preprocess(Section):
    format: Literal["wav"]  # WAV files (any encoding libsndfile reads: PCM, float, mu-law, A-law)
    sample_rate: int = Field(ge=1000, le=192_000)  # Hz: every file is mixed to mono and resampled to this rate
    exclude: list[Glob] = []  # globs over the files' names: left out of every split (named in preprocess.json)
    val_files: list[Glob] = Field(min_length=1)  # globs over the files' names: the validation split (whole files)
    test_files: list[Glob] = Field(min_length=1)  # globs over the files' names: the test split, never trained on

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
    sample_seconds: float = Field(gt=0, le=MAX_SECONDS)  # seconds per sampled clip
    temperature: float = Field(ge=0)  # sampling temperature (0 = greedy)
    frame: int = Field(ge=16)  # log-mel: samples per STFT frame
    hop: int = Field(ge=1)  # log-mel: samples between frames
    mel_bands: int = Field(ge=2)  # log-mel: triangular mel bands
    rendered: int = Field(ge=0)  # sampled clips written as WAV files (MLflow, the report)
    spike_window: int = Field(ge=1)  # a training step is a loss spike when its loss exceeds the median of the previous
    spike_rise: float = Field(gt=0)  # spike_window steps by more than this fraction
    gate: list[GateRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _frames(self) -> Evaluate:
        fft = 1 << (self.frame - 1).bit_length()
        if self.hop > self.frame:
            raise ValueError(f"evaluate.hop ({self.hop}) must not exceed evaluate.frame ({self.frame}): the frames "
                             "would skip audio")
        if self.mel_bands > fft // 4:
            raise ValueError(f"evaluate.mel_bands ({self.mel_bands}) must be at most a quarter of the FFT length "
                             f"({fft} for frames of {self.frame}), so that every band holds a frequency bin")
        return self


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
