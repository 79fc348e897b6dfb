"""The sections of a text generator in params.yaml (``generators.<name>``, ``modality: text``), validated by pydantic
with unknown keys rejected by name; the shared sections and the reader are :mod:`genforge.core.config`'s."""

from __future__ import annotations

import warnings
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from genforge.core.config import GateRule, GeneratorBase, Register, SearchBase, Section


class Preprocess(Section):
    encoding: str
    format: Literal["markdown_play", "plain"]
    stage_directions: Literal["keep", "drop"]
    headings: Literal["keep", "drop"]
    tokenizer: Literal["char", "byte"]
    val_fraction: float = Field(gt=0, lt=0.5)
    test_fraction: float = Field(gt=0, lt=0.5)
    domain: str  # glob over manifest paths: documents held out of every split for adaptability ("" = none)


class Mlp(Section):
    """The MLP generator (``train.arch: mlp``; Bengio et al., 2003)."""

    context: int = Field(ge=1)  # previous tokens the model sees
    hidden: list[Annotated[int, Field(ge=1)]] = Field(min_length=1)  # width of each hidden layer
    activation: Literal["sigmoid", "tanh", "relu", "gelu"]


class Gpt(Section):
    """The GPT generator (``train.arch: gpt``), nanoGPT's names; its block size is ``train.seq_len``."""

    n_layer: int = Field(ge=1)
    n_head: int = Field(ge=1)
    n_embd: int = Field(ge=1)

    @model_validator(mode="after")
    def _heads_divide(self) -> Gpt:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        return self


class Train(Section):
    arch: Literal["lstm", "mlp", "gpt"]
    embedding_dim: int = Field(ge=0)
    layers: int = Field(ge=1)
    units: int = Field(ge=1)
    mlp: Mlp
    gpt: Gpt
    seq_len: int = Field(ge=2)
    batch_size: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    lr_schedule: Literal["constant", "cosine"]
    warmup_steps: int = Field(ge=0)
    min_lr_ratio: float = Field(ge=0, le=1)
    weight_decay: float = Field(ge=0)
    beta_2: float = Field(gt=0, lt=1)
    ema_momentum: float = Field(ge=0, lt=1)
    clipnorm: float = Field(ge=0)
    dropout: float = Field(ge=0, lt=1)
    recurrent_dropout: float = Field(ge=0, lt=1)
    activation_l2: float = Field(ge=0)
    precision: Literal["float32", "mixed_bfloat16", "mixed_float16"]
    xla: bool
    steps_per_execution: int = Field(ge=1)
    intra_op_threads: int = Field(ge=0)
    inter_op_threads: int = Field(ge=0)
    epochs: int = Field(ge=0)
    steps_per_epoch: int = Field(ge=0)
    random_offsets: bool
    patience: int = Field(ge=1)
    val_batches: int = Field(ge=0)
    checkpoint_steps: int = Field(ge=0)
    sample_tokens: int = Field(ge=0)
    sample_prompt: str = Field(min_length=1)  # prompt of the sample logged after each epoch
    sample_temperature: float = Field(ge=0)  # its sampling temperature (0 = greedy)

    @model_validator(mode="after")
    def _arch_fits(self) -> Train:
        if self.arch == "mlp" and self.embedding_dim == 0:
            raise ValueError("arch mlp needs embedding_dim > 0 (its context window concatenates embeddings)")
        if self.checkpoint_steps and self.checkpoint_steps % self.steps_per_execution:
            raise ValueError(f"checkpoint_steps ({self.checkpoint_steps}) must be a multiple of steps_per_execution "
                             f"({self.steps_per_execution}): Keras reports progress once per execution")
        return self


class Prune(Section):
    sparsity: float = Field(ge=0, lt=1)  # 0 = no pruning
    steps: int = Field(ge=1)
    schedule_steps: int = Field(ge=1)
    frequency: int = Field(ge=1)
    power: float = Field(gt=0)
    learning_rate: float = Field(gt=0)

    @model_validator(mode="after")
    def _schedule_fits(self) -> Prune:
        if self.schedule_steps > self.steps:
            raise ValueError(f"prune.schedule_steps ({self.schedule_steps}) must be at most prune.steps "
                             f"({self.steps}): the target sparsity is reached at schedule_steps")
        return self


class Optimize(Section):
    method: Literal["int8", "keras_int8", "none"]
    prune: Prune
    litert: list[Literal["float32", "float16", "int8"]]
    latency_tokens: int = Field(ge=10)

    @field_validator("litert")
    @classmethod
    def _no_repeats(cls, kinds: list[str]) -> list[str]:
        if len(set(kinds)) != len(kinds):
            raise ValueError("each LiteRT variant at most once")
        return kinds


class Evaluate(Section):
    context: int = Field(ge=2)
    sample_prompt: str = Field(min_length=1)
    sample_tokens: int = Field(ge=1)
    temperatures: list[Annotated[float, Field(ge=0)]] = Field(min_length=1)
    num_samples: int = Field(ge=2)
    temperature: float = Field(ge=0)
    memorization_chars: int = Field(ge=1)
    speed_tokens: int = Field(ge=2)
    speed_batch: int = Field(ge=1)
    adapt_steps: int = Field(ge=0)
    adapt_learning_rate: float = Field(gt=0)  # Adam's rate when fine-tuning the trained model on the domain
    adapt_holdout: float = Field(gt=0, lt=1)  # share of the held-out domain scored, after the fine-tuning part
    seeds: int = Field(ge=1)
    spike_window: int = Field(ge=1)
    spike_rise: float = Field(gt=0)
    gate: list[GateRule] = Field(min_length=1)


class Search(SearchBase):
    """The search of a text generator: over keys of :class:`Train`."""

    train_model: ClassVar[type[BaseModel]] = Train


with warnings.catch_warnings():
    # the `register` section's name is also ABCMeta.register (a class method, not an instance attribute)
    warnings.filterwarnings("ignore", message='Field name "register"', category=UserWarning)

    class TextGenerator(GeneratorBase):
        """A text generator of params.yaml ``generators``: each field is the section of the stage of the same name,
        but ``search``: the hyperparameter search's (``make search GENERATOR=<name>``), which is not a DVC stage."""

        modality: Literal["text"]
        preprocess: Preprocess
        train: Train
        optimize: Optimize
        evaluate: Evaluate
        register: Register
        search: Search | None = None

        @model_validator(mode="after")
        def _method_fits_arch(self) -> TextGenerator:
            if self.optimize.method == "keras_int8" and self.train.arch == "gpt":
                raise ValueError("optimize.method keras_int8 does not load back for arch gpt (Keras rebuilds the "
                                 "Dense layers inside its blocks unquantized); use int8 or none")
            return self
