"""The modality seam: what a modality package supplies to the stages, and the registry that finds it by name.

A generator's ``modality`` (params.yaml ``generators.<name>.modality``) names an entry of :data:`MODALITIES`; the
module there holds ``MODALITY``, an object with the attributes of :class:`Modality`. Adding a modality adds one line
to :data:`MODALITIES` and touches no other file of ``genforge.core``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

from genforge import GenForgeError

# modality name -> module that defines MODALITY
MODALITIES: dict[str, str] = {
    "text": "genforge.text.modality",
    "image": "genforge.image.modality",
    "video": "genforge.video.modality",
    "image2image": "genforge.image2image.modality",
    "audio": "genforge.audio.modality",
    "waveform": "genforge.waveform.modality",
}


class Modality(Protocol):
    """What each stage asks of a modality. ``job`` is the :class:`genforge.core.config.Job` of one generator; each
    verb returns the small result record the stage prints, and writes its outputs under ``job.paths``."""

    name: str
    config: type  # the pydantic model of a generator of this modality (a subclass of GeneratorBase)
    uses: tuple[str, ...]  # the other modality packages it imports (their public functions); dvc.yaml declares
    # them as deps of its stages, and a registered model carries them

    def preprocess(self, job) -> dict[str, Any]: ...
    def train(self, job) -> dict[str, Any]: ...
    def optimize(self, job) -> dict[str, Any]: ...
    def evaluate(self, job) -> dict[str, Any]: ...
    def log_model(self, job, run_id: str, registered_name: str) -> int: ...
    def report(self, job, registration: dict, title: str) -> str:
        """The generator's report page: a complete HTML document."""
        ...

    def fit_trial(self, job, train, seed: int, on_epoch: Callable[[int, float], bool]) -> list[float]:
        """Train one search trial (``train``: the trial's train section) with ``seed``; ``on_epoch(epoch,
        val_loss)`` after each epoch stops training when it returns true. Returns each epoch's val loss."""
        ...

    def check_search_inputs(self, job) -> None:
        """Raise :class:`GenForgeError` (naming the stage to run) when the data a search trains on is missing."""
        ...


class StagePackage:
    """The verbs every modality package spells the same way: ``preprocess``, ``train``, ``optimize`` and ``evaluate``
    call the function of that name in ``<package>.stages.<verb>``, and ``report`` calls
    ``<package>.stages.report.report_page``, where ``<package>`` is the package of the subclass's module. Each is
    imported when called, so that reading params.yaml imports no TensorFlow. A modality subclasses it and adds
    ``name``, ``config``, ``fit_trial``, ``check_search_inputs`` and ``log_model``, and ``uses`` when it imports
    another modality's package."""

    uses: tuple[str, ...] = ()

    def _call(self, module: str, function: str, *args):
        package = type(self).__module__.rsplit(".", 1)[0]
        return getattr(importlib.import_module(f"{package}.stages.{module}"), function)(*args)

    def preprocess(self, job) -> dict[str, Any]:
        return self._call("preprocess", "preprocess", job)

    def train(self, job) -> dict[str, Any]:
        return self._call("train", "train", job)

    def optimize(self, job) -> dict[str, Any]:
        return self._call("optimize", "optimize", job)

    def evaluate(self, job) -> dict[str, Any]:
        return self._call("evaluate", "evaluate", job)

    def report(self, job, registration: dict, title: str) -> str:
        return self._call("report", "report_page", job, registration, title)


def get_modality(name: str) -> Modality:
    """The registered modality ``name``.

    Raises:
        GenForgeError: no modality of that name is registered (the message lists those that are).
    """
    if name not in MODALITIES:
        raise GenForgeError(f"unknown modality {name!r}; registered: {', '.join(sorted(MODALITIES))}")
    return importlib.import_module(MODALITIES[name]).MODALITY
