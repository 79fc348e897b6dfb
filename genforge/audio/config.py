"""The sections of an audio generator in params.yaml (``generators.<name>``, ``modality: audio``), validated by
pydantic with unknown keys rejected by name. The train and optimize sections are the text modality's
(:class:`genforge.text.config.Train`, :class:`~genforge.text.config.Optimize`): the tunes are learned by its
sequence models."""

from __future__ import annotations

import warnings
from typing import ClassVar, Literal

from pydantic import BaseModel, Field, model_validator

from genforge.core.config import GateRule, GeneratorBase, Register, SearchBase, Section
from genforge.text.config import Optimize, Train


class Preprocess(Section):
    format: Literal["abc"]  # ABC notation (abcnotation.com, standard 2.1): files of tunes, each starting at `X:`
    fields: list[str] = Field(min_length=1)  # header fields kept before each tune's body, in this order; K: (the key)
    # must be last, as ABC requires. Titles, sources and notes (T:, B:, N:, Z:) are dropped: they are not music
    min_notes: int = Field(ge=1)  # a tune parses when music21 reads it and finds at least this many notes; the others
    # are skipped and counted by name in preprocess.json
    val_fraction: float = Field(gt=0, lt=0.5)  # share of the tunes for validation (the split is by tune)
    test_fraction: float = Field(gt=0, lt=0.5)  # share of the tunes for testing

    @model_validator(mode="after")
    def _key_last(self) -> Preprocess:
        if self.fields[-1] != "K":
            raise ValueError(f"preprocess.fields must end with K (the key field ends an ABC header); got {self.fields}")
        return self


class Evaluate(Section):
    context: int = Field(ge=2)  # characters per scoring window over the test tunes (also the optimize stage's)
    prompt: str = Field(min_length=1)  # the text every sampled tune starts from (every training tune starts with M:)
    num_samples: int = Field(ge=2)  # tunes sampled (seeds seed+1, seed+2, ...) for parsing, histograms and leakage
    sample_tokens: int = Field(ge=16)  # at most this many characters per tune (a tune ends at its first blank line)
    temperature: float = Field(ge=0)  # sampling temperature (0 = greedy)
    ngram: int = Field(ge=2)  # leakage: a sample's run of this many (pitch, length) events found in a training tune
    # is copied
    rendered: int = Field(ge=0)  # samples that parse rendered to MIDI and WAV (MLflow, the report)
    soundfont: str = Field(min_length=1)  # the General MIDI soundfont, a path under paths.raw (<source>/<member>)
    program: int = Field(ge=0, le=127)  # the General MIDI program the tunes are played with (0 piano, 73 flute)
    tempo: float = Field(gt=0)  # quarter notes per minute of the rendered tunes and of the real-time factor
    sample_rate: int = Field(ge=8000)  # Hz of the rendered WAV files (mono, 16-bit)
    clip_seconds: float = Field(gt=0)  # each WAV holds at most this many seconds of its tune
    spike_window: int = Field(ge=1)  # a training step is a loss spike when its loss exceeds the median of the previous
    spike_rise: float = Field(gt=0)  # spike_window steps by more than this fraction
    gate: list[GateRule] = Field(min_length=1)


class Search(SearchBase):
    """The search of an audio generator: over keys of the text modality's train section."""

    train_model: ClassVar[type[BaseModel]] = Train


with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "register"', category=UserWarning)

    class AudioGenerator(GeneratorBase):
        """An audio generator of params.yaml ``generators``: one section per stage."""

        modality: Literal["audio"]
        preprocess: Preprocess
        train: Train
        optimize: Optimize
        evaluate: Evaluate
        register: Register
        search: Search | None = None
