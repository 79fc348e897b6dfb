"""The MLflow run of one training, held by one trainer and continued across resumes: a train stage killed and run
again continues the same run (so one trained model has one run), and a run that can no longer be continued is marked
``KILLED`` when the next attempt starts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from genforge import GenForgeError
from genforge.core import tracking
from genforge.core.checkpoint import TrainingState
from genforge.core.files import write_json
from genforge.core.locks import exclusive

RUN_SUFFIX = ".run.json"  # beside a checkpoint folder: {"run_id"} of the run that trains into it


@contextmanager
def training_run(checkpoint: str | Path | None, experiment: str, params: Mapping[str, Any],
                 tags: Mapping[str, str]) -> Iterator[str]:
    """Yield the id of the MLflow run to train in, holding ``checkpoint`` for this process meanwhile.

    With a checkpoint folder: a second trainer of the same folder stops at once with a message naming the holder's
    PID (:func:`genforge.core.locks.exclusive`). When ``<checkpoint>.run.json`` names the run of an interrupted
    attempt, that run continues (status ``RUNNING`` again) if the checkpoint can be resumed, and is marked ``KILLED``
    otherwise; else a new run is created (:func:`genforge.core.tracking.start_training_run`) and recorded there. The
    record is removed when the block ends normally (the caller ends the run); an exception marks the run ``FAILED``
    and keeps the record, so that a resume of the checkpoint continues it.

    Raises:
        GenForgeError: another process holds the checkpoint folder.
    """
    if checkpoint is None:  # nothing to resume (multi-worker training): a new run
        yield tracking.start_training_run(experiment, params, tags)
        return
    with exclusive(checkpoint, "checkpoint folder"):
        record = Path(f"{checkpoint}{RUN_SUFFIX}")
        run_id = _continued(record, checkpoint)
        if run_id is None:
            run_id = tracking.start_training_run(experiment, params, tags)
            write_json(record, {"run_id": run_id})
        try:
            yield run_id
        except BaseException:
            tracking.end_run(run_id, "FAILED")
            raise
        record.unlink(missing_ok=True)


def _continued(record: Path, checkpoint: str | Path) -> str | None:
    """The recorded run, reopened, when the checkpoint resumes it; else ``None`` (a recorded run is marked
    ``KILLED``, or forgotten when the tracking store no longer has it)."""
    if not record.exists():
        return None
    previous = json.loads(record.read_text())["run_id"]
    try:
        if TrainingState.saved(checkpoint):
            tracking.reopen_run(previous)
            tracking.set_tags(previous, {"resumed": "true"})
            return previous
        tracking.end_run(previous, "KILLED")
    except GenForgeError:  # the run is not in this tracking store (another MLFLOW_TRACKING_URI): start a new one
        pass
    record.unlink(missing_ok=True)
    return None
