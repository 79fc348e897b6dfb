"""The sections of a video generator in params.yaml (``generators.<name>``, ``modality: video``), validated by
pydantic with unknown keys rejected by name; the shared sections and the reader are :mod:`genforge.core.config`'s."""

from __future__ import annotations

import warnings
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, Field, model_validator

from genforge.core.config import GateRule, GeneratorBase, Register, SearchBase, Section

Width = Annotated[int, Field(ge=1)]


class Preprocess(Section):
    format: Literal["moving_mnist", "folder"]  # moving_mnist: Moving MNIST (Srivastava et al. 2015) built from the
    # MNIST source's digits | folder: the video files (MP4, ...) and animated GIFs of a folder, cut into sequences
    size: int = Field(ge=12)  # frame height and width in pixels (Moving MNIST: at least 28, 64 in the paper)
    frames: int = Field(ge=2)  # frames per sequence (20: 10 of context, 10 to generate)
    digits: int = Field(ge=1)  # moving_mnist: digits per sequence
    step: float = Field(gt=0, le=1)  # moving_mnist: distance a digit moves per frame, as a share of its free range
    val_fraction: float = Field(gt=0, lt=0.5)  # moving_mnist: share of MNIST's training digits kept for validation
    # sequences | folder: share of each clip's sequences (before its test stretch) held out for validation
    test_fraction: float = Field(gt=0, lt=0.5)  # folder: share of each clip's sequences, from its end, for testing
    val_sequences: int = Field(ge=1)  # moving_mnist: validation sequences (from the val digits), fixed by the seed
    test_sequences: int = Field(ge=1)  # moving_mnist: test sequences (from MNIST's test digits), fixed by the seed


class Train(Section):
    arch: Literal["convlstm", "window"]  # ConvLSTM (Shi et al. 2015) | a convolutional window model
    context: int = Field(ge=1)  # frames given before generation starts (the window model's input length)
    rollout: int = Field(ge=1)  # frames generated in closed loop in training (1: one step from true frames)
    patch: int = Field(ge=1)  # pixels per side of the patches stacked on the channels (PredRNN: 4)
    filters: list[Width] = Field(min_length=1)  # convlstm: units of each ConvLSTM layer; window: each block's width
    kernel: int = Field(ge=1)  # convolution kernel size
    batch_size: int = Field(ge=1)  # sequences per batch
    ssim_weight: float = Field(ge=0)  # weight of (1 - SSIM) beside the cross-entropy in the loss (0 = off)
    learning_rate: float = Field(gt=0)
    clipnorm: float = Field(ge=0)  # gradient clipping by global norm (0 = off)
    intra_op_threads: int = Field(ge=0)
    inter_op_threads: int = Field(ge=0)
    epochs: int = Field(ge=0)
    steps_per_epoch: int = Field(ge=1)  # batches per epoch (sequences are drawn afresh for every batch)
    patience: int = Field(ge=1)
    val_batches: int = Field(ge=1)
    checkpoint_steps: int = Field(ge=0)
    sample_sequences: int = Field(ge=0)  # validation sequences drawn as a strip after each epoch (0 = none)


class Prune(Section):
    sparsity: float = Field(ge=0, lt=1)  # share of zeros in every kernel; 0 = no pruning
    steps: int = Field(ge=1)  # fine-tuning steps
    schedule_steps: int = Field(ge=1)
    frequency: int = Field(ge=1)
    power: float = Field(gt=0)
    learning_rate: float = Field(gt=0)

    @model_validator(mode="after")
    def _schedule_fits(self) -> Prune:
        if self.schedule_steps > self.steps:
            raise ValueError(f"prune.schedule_steps ({self.schedule_steps}) must be at most prune.steps "
                             f"({self.steps})")
        return self


class Optimize(Section):
    method: Literal["none", "pruned"]  # the variant shipped and evaluated
    prune: Prune
    num_sequences: int = Field(ge=1)  # test sequences each variant is scored on


class Evaluate(Section):
    num_sequences: int = Field(ge=1)  # test sequences scored (at most preprocess.test_sequences)
    samples: int = Field(ge=1)  # sequences shown as strips and GIFs
    gif_ms: int = Field(ge=10)  # milliseconds per GIF frame
    speed_batch: int = Field(ge=2)  # the larger batch timed besides batch 1
    latency_runs: int = Field(ge=3)
    gate: list[GateRule] = Field(min_length=1)


class Search(SearchBase):
    """The search of a video generator: over keys of :class:`Train`."""

    train_model: ClassVar[type[BaseModel]] = Train


with warnings.catch_warnings():
    # the `register` section's name is also ABCMeta.register (a class method, not an instance attribute)
    warnings.filterwarnings("ignore", message='Field name "register"', category=UserWarning)

    class VideoGenerator(GeneratorBase):
        """A video generator of params.yaml ``generators``: one section per stage."""

        modality: Literal["video"]
        preprocess: Preprocess
        train: Train
        optimize: Optimize
        evaluate: Evaluate
        register: Register
        search: Search | None = None

        @model_validator(mode="after")
        def _fits(self) -> VideoGenerator:
            if self.train.context >= self.preprocess.frames:
                raise ValueError(f"train.context ({self.train.context}) must be below preprocess.frames "
                                 f"({self.preprocess.frames}): the frames after the context are the ones generated")
            if self.train.context + self.train.rollout > self.preprocess.frames:
                raise ValueError(f"train.context + train.rollout ({self.train.context} + {self.train.rollout}) "
                                 f"exceeds preprocess.frames ({self.preprocess.frames})")
            if self.preprocess.size % self.train.patch:
                raise ValueError(f"train.patch ({self.train.patch}) must divide preprocess.size "
                                 f"({self.preprocess.size})")
            if self.preprocess.format == "moving_mnist" and self.preprocess.size < 28:  # noqa: PLR2004
                raise ValueError(f"preprocess.size ({self.preprocess.size}) must be at least 28 for Moving MNIST: a "
                                 "digit is 28x28")
            mnist = self.preprocess.format == "moving_mnist"
            if mnist and self.evaluate.num_sequences > self.preprocess.test_sequences:
                raise ValueError(f"evaluate.num_sequences ({self.evaluate.num_sequences}) exceeds "
                                 f"preprocess.test_sequences ({self.preprocess.test_sequences})")
            return self
