"""The validated configuration: params.yaml parsed into pydantic models, unknown keys rejected by name.

The file holds the shared sections (``seed``, ``paths``, ``collect``, ``report``) and the table ``generators``: one
entry per generator, whose sections are those of its ``modality`` (a union the registry of
:mod:`genforge.core.modality` chooses by that key). A stage of one generator reads a :class:`Job`.

Every read of a setting can be recorded (:func:`recording`): the test that compares what each stage reads with
what dvc.yaml declares is derived from the code that way, not from the text of the stages.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from genforge import GenForgeError

DEFAULT_PARAMS = Path("params.yaml")
ModelT = TypeVar("ModelT", bound=BaseModel)

_READS: ContextVar[set[str] | None] = ContextVar("genforge_params_reads", default=None)


class Section(BaseModel):
    """The base of every params section: immutable, unknown keys and non-finite numbers rejected. While
    :func:`recording` is on, reading a setting adds its dotted key (``generators.shakespeare.train.epochs``) to the
    record, and :meth:`model_dump` adds the whole section's."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    _key: str = PrivateAttr(default="")

    def __getattribute__(self, name: str):
        value = object.__getattribute__(self, name)
        if name[0] != "_" and name in type(self).model_fields and not isinstance(value, Section | list | dict):
            reads = _READS.get()
            if reads is not None:
                reads.add(_join(self._key, name))
        return value

    def model_dump(self, **kwargs) -> dict[str, Any]:
        reads = _READS.get()
        if reads is not None:
            reads.add(self._key)
        return super().model_dump(**kwargs)


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _set_keys(value: Any, key: str) -> None:
    """Give each section its dotted key in the file (recorded on reads)."""
    if isinstance(value, Section):
        value._key = key
        for name in type(value).model_fields:
            _set_keys(object.__getattribute__(value, name), _join(key, name))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _set_keys(item, _join(key, str(i)))
    elif isinstance(value, dict):
        for name, item in value.items():
            _set_keys(item, _join(key, str(name)))


@contextmanager
def recording() -> Iterator[set[str]]:
    """Record the dotted key of every setting read inside the block (a list or mapping counts as one setting).

    >>> params = Paths(raw="r", processed="p", trained="t", checkpoints="c", optimized="o", metrics="m", reports="w")
    >>> _set_keys(params, "paths")
    >>> with recording() as reads:
    ...     _ = params.raw
    >>> sorted(reads)
    ['paths.raw']
    """
    reads: set[str] = set()
    token = _READS.set(reads)
    try:
        yield reads
    finally:
        _READS.reset(token)


class Paths(Section):
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


class GeneratorPaths(Paths):
    """The folders of one generator: ``raw`` is shared (the collect stage's), every other is ``<path>/<generator>``."""


def generator_paths(paths: Paths, name: str) -> GeneratorPaths:
    """The folders of generator ``name`` under the project's ``paths``."""
    folders = paths.model_dump()
    # derived from validated paths: constructed without validating again (a validator's read would be recorded)
    return GeneratorPaths.model_construct(**{k: v if k == "raw" else v / name for k, v in folders.items()})


class _Source(Section):
    # a folder name under paths.raw; "manifest.json" is the collect stage's own file there
    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")  # the pin: see genforge.core.sources

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


class DistributionSource(_Source):
    """One file of a project on a package index, named exactly (an sdist or a wheel), found through the simple
    repository API (``genforge.core.package_index``) and unpacked; members chosen by glob. For distributions that
    ``pip download`` refuses, such as an sdist without build files. ``index_url``: the index to read (default: pip's
    configured ``index-url`` and ``extra-index-url``, in order)."""

    kind: Literal["distribution"]
    project: str
    filename: str = Field(pattern=r"^[^/\\]+\.(tar\.gz|tgz|tar\.bz2|tar\.xz|tar|zip|whl)$")
    members: str = "**/*"
    index_url: str | None = None


class DebianSource(_Source):
    """A Debian package, fetched with ``apt-get download <package>=<version>`` from the machine's configured apt
    sources and unpacked with ``dpkg-deb -x``; members (paths inside the package, such as
    ``usr/share/fonts/opentype/urw-base35/*.otf``) chosen by glob. Needs a Debian or Ubuntu machine with
    up-to-date apt lists; the pin is the sha256 of the ``.deb``."""

    kind: Literal["debian"]
    package: str = Field(pattern=r"^[a-z0-9][a-z0-9+.-]+$")
    version: str = Field(pattern=r"^\S+$")  # exact, with any epoch: 1:0.18+dfsg-19
    members: str = "**/*"


Source = Annotated[FileSource | UrlSource | WheelSource | DistributionSource | DebianSource,
                   Field(discriminator="kind")]


class Collect(Section):
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


class Report(Section):
    title: str = Field(min_length=1)


class Dimension(Section):
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


class SearchBase(Section):
    """A generator's hyperparameter search (``make search GENERATOR=<name>``; :mod:`genforge.core.search`): an
    Optuna study over ``space``, keys ``train.<key>`` of the modality's train section (:attr:`train_model`)."""

    train_model: ClassVar[type[BaseModel]]  # the modality's train section, whose keys the space may search

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

        fields = cls.train_model.model_fields
        for key, dim in space.items():
            section, _, name = key.partition(".")
            if section != "train" or name not in fields or name in ("epochs", "steps_per_epoch"):
                raise ValueError(f"{key!r} is not a searchable key: use train.<key> for a key of the train section "
                                 "other than epochs and steps_per_epoch (search.epochs sets those)")
            field = fields[name]
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


class GateRule(Section):
    """One check of the evaluation gate: ``metric`` (a key of the flattened ``evaluate.json``, such as
    ``bits_per_character`` or ``samples.distinct_2``) ``op`` ``threshold``. A missing or NaN metric fails."""

    metric: str = Field(min_length=1)
    op: Literal["<=", ">=", "<", ">"]
    threshold: float


class Register(Section):
    """Which test metric decides the ``champion`` alias, and in which direction."""

    metric: str = Field(min_length=1)  # a key of the flattened evaluate.json
    direction: Literal["lower", "higher"]  # which values are better
    margin: float = Field(ge=0)  # a challenger must beat the champion by more than this, in the metric's units


GENERATOR_NAME = r"^[a-z0-9][a-z0-9-]*$"  # also a folder name and part of MLflow names (genforge-<name>)


class GeneratorBase(Section):
    """What every generator has; a modality's generator model subclasses it with its stage sections."""

    modality: str
    data: list[str] = Field(min_length=1)  # names of collect.sources this generator trains on


class ParamsBase(Section):
    """The shared sections of params.yaml; :func:`params_model` adds the ``generators`` table."""

    seed: int = Field(ge=0)
    paths: Paths
    collect: Collect
    report: Report
    generators: dict[str, GeneratorBase]

    @model_validator(mode="after")
    def _generators_fit(self) -> ParamsBase:
        import re

        if not self.generators:
            raise ValueError("generators: name at least one generator")
        sources = {s.name for s in self.collect.sources}
        for name, gen in self.generators.items():
            if not re.match(GENERATOR_NAME, name):
                raise ValueError(f"generators.{name}: a generator name is lower-case letters, digits and '-' (it "
                                 "names folders and the MLflow experiment genforge-<name>)")
            unknown = [d for d in gen.data if d not in sources]
            if unknown:
                raise ValueError(f"generators.{name}.data: {unknown} not among collect.sources ({sorted(sources)})")
        return self


@cache
def params_model() -> type[ParamsBase]:
    """The model of the whole params file: :class:`ParamsBase` whose ``generators`` hold, for each entry, the
    generator model of its ``modality`` (every modality of :data:`genforge.core.modality.MODALITIES`)."""
    from genforge.core.modality import MODALITIES, get_modality

    kinds = tuple(get_modality(name).config for name in MODALITIES)
    entry = Annotated[Union[kinds], Field(discriminator="modality")] if len(kinds) > 1 else kinds[0]  # noqa: UP007
    return create_model("Params", __base__=ParamsBase, generators=(dict[str, entry], ...))


@dataclass(frozen=True)
class Job:
    """What one stage of one generator reads: the generator's name, sections and folders, and the shared ``seed``.
    A stage section is an attribute (``job.train``, ``job.evaluate``) of the generator's model. Every setting is
    read when it is used, so that :func:`recording` sees what a stage reads, no more.

    Attributes:
        name: the generator's key in params.yaml.
        params: the whole validated file.
    """

    name: str
    params: ParamsBase

    @property
    def seed(self) -> int:
        """The global random seed."""
        return self.params.seed

    @property
    def paths(self) -> GeneratorPaths:
        """The generator's folders (:func:`generator_paths`)."""
        paths = generator_paths(self.params.paths, self.name)
        _set_keys(paths, "paths")
        return paths

    @property
    def generator(self) -> GeneratorBase:
        """The generator's validated section (a modality's subclass of :class:`GeneratorBase`)."""
        return self.params.generators[self.name]

    @property
    def experiment(self) -> str:
        """The MLflow experiment and registered model of this generator: ``genforge-<name>``."""
        return f"genforge-{self.name}"

    def __getattr__(self, section: str):
        if section.startswith("__"):
            raise AttributeError(section)
        return getattr(self.generator, section)


def job(params: ParamsBase, name: str) -> Job:
    """The :class:`Job` of generator ``name``.

    Raises:
        GenForgeError: params.yaml has no generator of that name (the message lists those it has).
    """
    if name not in params.generators:
        raise GenForgeError(f"no generator {name!r} in params.yaml; generators: {', '.join(params.generators)}")
    return Job(name=name, params=params)


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
    from genforge.core.modality import MODALITIES

    tags = {"file", "url", "wheel", "distribution", "debian", *MODALITIES}
    lines = []
    for e in err.errors():
        # drop the discriminator tags pydantic inserts into union locations (sources.0.file.path, generators.x.text)
        loc = [str(p) for i, p in enumerate(e["loc"]) if not (p in tags and i in (2, 3))]
        key = ".".join(loc) or "<top level>"
        # a section's own check (a model validator) names its keys; its input is the whole section, not repeated
        got = "" if e["type"] == "missing" or isinstance(e.get("input"), dict) else f" (got {e.get('input')!r})"
        msg = "unknown key; remove it or fix its spelling" if e["type"] == "extra_forbidden" else e["msg"]
        if e["type"] == "union_tag_invalid":  # a generator whose modality is not registered
            key, got = f"{key}.modality", ""
            msg = f"unknown modality {e['ctx']['tag']!r}; registered: {', '.join(MODALITIES)}"
        lines.append(f"  {key}: {msg}{got}")
    return f"{source}: invalid parameters:\n" + "\n".join(lines)


def read_params(path: str | Path, model: type[ModelT]) -> ModelT:
    """Read a params file and validate it into ``model``.

    Args:
        path: the YAML file (``params.yaml`` in the working directory, say).
        model: the pydantic model of the whole file (the text pipeline's is :class:`genforge.text.config.Params`).

    Returns:
        The validated, immutable ``model`` instance.

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
        return model.model_validate(raw)
    except ValidationError as e:
        raise GenForgeError(_describe(e, path)) from None


def load_params(path: str | Path = DEFAULT_PARAMS) -> ParamsBase:
    """Read and validate params.yaml into :func:`params_model` (each generator checked against its modality's
    model); every section knows its dotted key for :func:`recording`.

    Raises:
        GenForgeError: the file is missing or not YAML, or a key is unknown, missing or of the wrong type; the
            message names the file and each offending key (``generators.shakespeare.train.epochs``, say).
    """
    params = read_params(path, params_model())
    _set_keys(params, "")
    return params
