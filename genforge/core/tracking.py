"""MLflow tracking: the one module that talks to MLflow (runs, metrics, artifacts, the model registry).

With no configuration, runs go to a SQLite store ``mlflow.db`` and artifacts to ``mlartifacts/`` in the project
root; ``MLFLOW_TRACKING_URI`` overrides the store (an ``http://`` server, say) and the server's artifact store is
used then.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genforge import GenForgeError

CHAMPION, CHALLENGER = "champion", "challenger"
RUN_FILE = "run.json"  # in a model folder: {"run_id", "tracking_uri"} of the MLflow run that trained it


def tracking_uri(root: Path | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<root>/mlflow.db`` (root: the working directory)."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    root = (root or Path.cwd()).resolve()
    return f"sqlite:///{root / 'mlflow.db'}"


def _mlflow(root: Path | None = None):
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(root))
    return mlflow


def experiment_id(name: str, root: Path | None = None) -> str:
    """Id of experiment ``name``, created if missing.

    With a local SQLite store (the default) a new experiment keeps its artifacts in ``<root>/mlartifacts``; MLflow
    would otherwise put them in ``./mlruns`` of whatever directory the client runs in. A tracking server keeps its
    own artifact store.

    Raises:
        GenForgeError: the tracking server cannot be reached.
    """
    mlflow = _mlflow(root)
    try:
        exp = mlflow.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        location = None
        if tracking_uri(root).startswith("sqlite:"):
            location = ((root or Path.cwd()).resolve() / "mlartifacts").as_uri()
        return mlflow.create_experiment(name, artifact_location=location)
    except Exception as e:
        raise GenForgeError(f"MLflow tracking at {tracking_uri(root)} failed: {e}. Check MLFLOW_TRACKING_URI") from e


def runs_page_links(base_url: str, root: Path | None = None) -> dict[str, str]:
    """The MLflow UI page of each ``genforge-*`` experiment's runs, by experiment name, for the UI at ``base_url``.

    MLflow 3's UI opens an experiment on its GenAI "Traces" page unless the browser has chosen the
    machine-learning view: the query ``workflowType=machine_learning`` chooses it (the web app reads it before the
    ``mlflow.workflowType`` it keeps in the browser's local storage, and stores it there); the experiment tag
    ``mlflow.experimentKind`` is not consulted by the UI of MLflow 3.x as pinned here. Experiments are listed from
    the store of :func:`tracking_uri`.

    Raises:
        GenForgeError: the tracking store cannot be read.
    """
    mlflow = _mlflow(root)
    try:
        experiments = mlflow.search_experiments(filter_string="name LIKE 'genforge-%'", order_by=["name"])
    except Exception as e:
        raise GenForgeError(f"MLflow tracking at {tracking_uri(root)} failed: {e}. Check MLFLOW_TRACKING_URI") from e
    base = base_url.rstrip("/")
    return {e.name: f"{base}/#/experiments/{e.experiment_id}/runs?workflowType=machine_learning"
            for e in experiments}


def ui_url() -> str:
    """The MLflow UI's address: the tracking server when ``MLFLOW_TRACKING_URI`` is ``http(s)://`` (it serves the
    UI), else ``GENFORGE_MLFLOW_UI_URL``, else ``http://127.0.0.1:5000`` (where ``make ui`` serves the local store)."""
    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/")
    return os.environ.get("GENFORGE_MLFLOW_UI_URL", "http://127.0.0.1:5000").rstrip("/")


def run_links(run_id: str, model_name: str, version: int | None) -> dict[str, str]:
    """The MLflow UI pages (over http, :func:`ui_url`) of a run (``run``) and of a registered model version
    (``version``, when ``version`` is not ``None``).

    Raises:
        GenForgeError: the run is not in the tracking store.
    """
    experiment = _client(run_id).get_run(run_id).info.experiment_id
    base = ui_url()
    links = {"run": f"{base}/#/experiments/{experiment}/runs/{run_id}"}
    if version is not None:
        links["version"] = f"{base}/#/models/{model_name}/versions/{version}"
    return links


def run_tags(run_id: str) -> dict[str, str]:
    """The tags of a run (the commit is ``mlflow.source.git.commit``).

    Raises:
        GenForgeError: the run is not in the tracking store.
    """
    return dict(_client(run_id).get_run(run_id).data.tags)


def git_commit(root: Path | None = None) -> str:
    """The current git commit, with ``-dirty`` when tracked files other than the pipeline's own outputs have
    uncommitted changes; ``unknown`` outside git.

    The pipeline's outputs (``dvc.lock`` and every output path it records) are left out: a stage run rewrites them,
    so a run's later stages would otherwise call a clean commit dirty.
    """
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        top = Path(git("rev-parse", "--show-toplevel"))
        excluded = [f":(exclude,top){path}" for path in _pipeline_outputs(top)]
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ":/", *excluded)
        return commit + ("-dirty" if dirty else "")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def _pipeline_outputs(top: Path) -> list[str]:
    """``dvc.lock`` and the output paths its stages record (relative to ``top``), or ``[]`` without a readable
    ``dvc.lock``."""
    import yaml

    try:
        stages = (yaml.safe_load((top / "dvc.lock").read_text(encoding="utf-8")) or {}).get("stages", {})
    except (OSError, yaml.YAMLError, AttributeError):
        return []
    outs = {out["path"] for stage in stages.values() if isinstance(stage, dict)
            for out in stage.get("outs", []) if isinstance(out, dict) and "path" in out}
    return ["dvc.lock", *sorted(outs)]


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"epochs": 3}}`` -> ``{"train.epochs": 3}``; lists become their string form."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = str(value) if isinstance(value, (list, tuple)) else value
    return flat


_KEY_CHARS = re.compile(r"[^/\w.\- :]")  # MLflow's rule: alphanumerics, _ - . space : and /
MAX_KEY_LENGTH = 250  # MLflow's limit on metric, param and tag keys


def metric_key(name: str) -> str:
    """A valid MLflow metric key for any ``name``, the same every time.

    A name MLflow accepts is kept as it is. Otherwise every character outside alphanumerics, ``_ - . : space /`` becomes
    ``_``, empty, ``.`` and ``..`` path segments are dropped or replaced, the result is cut to fit 250 characters,
    and ``_`` plus the first 8 hex digits of the name's SHA-256 is appended, so two different names that clean to the
    same text still get different keys (MLflow's rules: ``mlflow.utils.validation``).

    >>> metric_key("samples/distinct_2")
    'samples/distinct_2'
    >>> metric_key("loss (nats)")
    'loss _nats__4ff23911'
    """
    segments = name.split("/")
    if (name and len(name) <= MAX_KEY_LENGTH and not _KEY_CHARS.search(name)
            and all(seg not in ("", ".", "..") for seg in segments)):
        return name
    clean = [_KEY_CHARS.sub("_", seg) for seg in segments if seg]
    clean = ["_" if seg in (".", "..") else seg for seg in clean] or ["_"]
    suffix = "_" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return "/".join(clean)[: MAX_KEY_LENGTH - len(suffix)].rstrip("/") + suffix


def metric_keys(names) -> dict[str, str]:
    """``{name: metric_key(name)}`` for several names.

    Raises:
        GenForgeError: two names map to the same key (one is a valid key that equals another's mapped form).
    """
    keys = {n: metric_key(n) for n in names}
    seen: dict[str, str] = {}
    for name, key in keys.items():
        if key in seen:
            raise GenForgeError(f"metric names {seen[key]!r} and {name!r} both map to the MLflow key {key!r}; "
                                "rename one of them")
        seen[key] = name
    return keys


def start_training_run(experiment: str, params: Mapping[str, Any], tags: Mapping[str, str],
                       run_name: str | None = None) -> str:
    """Create an MLflow run in ``experiment`` (created if missing), log every param (flattened) and the tags; return
    its run id.

    The run is named ``run_name``, else after ``params["generator"]`` (or the experiment) and what produced it:
    the DVC experiment's name under ``dvc exp run`` (``DVC_EXP_NAME``, also the tag ``dvc.exp_name``, so that
    ``dvc exp show`` and the runs list match row to row), else the short git commit (``+dirty`` for uncommitted
    changes). Its source is the DVC stage that runs it (``DVC_STAGE``, else ``python``), of source type ``LOCAL``,
    and its user the login name (MLflow's ``mlflow.source.*`` and ``mlflow.user`` tags, which the UI shows as
    Source and Created by); ``tags`` override these.
    """
    mlflow = _mlflow()
    exp = experiment_id(experiment)
    commit = git_commit()
    exp_name = os.environ.get("DVC_EXP_NAME")
    if exp_name:
        made_by = exp_name
    elif commit == "unknown":
        made_by = "no-commit"
    else:
        made_by = commit[:7] + ("+dirty" if commit.endswith("-dirty") else "")
    defaults = {"mlflow.source.git.commit": commit, "mlflow.source.type": "LOCAL",
                "mlflow.source.name": f"dvc.yaml:{os.environ['DVC_STAGE']}" if "DVC_STAGE" in os.environ
                else "python", **_user_tag(), **({"dvc.exp_name": exp_name} if exp_name else {})}
    run = mlflow.MlflowClient().create_run(
        exp, run_name=run_name or f"{params.get('generator', experiment)}-{made_by}", tags={**defaults, **tags})
    log_params(run.info.run_id, params)
    return run.info.run_id


def _user_tag() -> dict[str, str]:
    import getpass

    try:
        return {"mlflow.user": getpass.getuser()}
    except (KeyError, OSError):  # no login name (a container user without a passwd entry)
        return {}


SPLIT_NAMES = {"training": "train", "validation": "val", "test": "test"}  # MLflow dataset context -> split


def log_datasets(run_id: str, files: Mapping[str, str | Path], name: str) -> None:
    """Log data files as the run's MLflow dataset inputs, each with its context (``{"training": "data/.../train.npy",
    "validation": ..., "test": ...}``), named ``<name>/<split>`` (``train``, ``val``, ``test`` for MLflow's standard
    contexts, else the context), with the file's md5 (the digest DVC records for a file; a text split's array, or an
    image split's ``index.json``, which names every shard's md5) as the dataset digest and its path as a local source
    (MLflow's ``Dataset`` entity; MLflow docs, *mlflow.data*). Logging a file again with the same digest and context
    adds nothing.

    Raises:
        OSError: a file cannot be read.
    """
    import json

    from mlflow.entities import Dataset, DatasetInput, InputTag

    from genforge.core.files import md5_file

    inputs = [DatasetInput(Dataset(name=f"{name}/{SPLIT_NAMES.get(context, context)}", digest=md5_file(path),
                                   source_type="local", source=json.dumps({"uri": Path(path).as_posix()})),
                           tags=[InputTag("mlflow.data.context", context)])
              for context, path in files.items()]
    _client(run_id).log_inputs(run_id, datasets=inputs)


def log_params(run_id: str, params: Mapping[str, Any]) -> None:
    """Log params (flattened, values as text) to a run, 100 per request."""
    mlflow = _mlflow()
    items = list(flatten(params).items())
    for i in range(0, len(items), 100):
        mlflow.log_params(dict(items[i:i + 100]), run_id=run_id)


def _client(run_id: str):
    mlflow = _mlflow()
    client = mlflow.MlflowClient()
    try:
        client.get_run(run_id)
    except Exception as e:
        raise GenForgeError(f"MLflow run {run_id} not found at {tracking_uri()}: {e}. Re-run the train stage "
                            "(`dvc repro --force train@<generator>`) to create the run") from e
    return client


def run_exists(run_id: str) -> bool:
    """Whether the tracking store (:func:`tracking_uri`) holds run ``run_id``: ``False`` where MLflow answers
    ``RESOURCE_DOES_NOT_EXIST`` (a fresh clone's ``mlflow.db`` holds only the runs trained there).

    Raises:
        GenForgeError: the store cannot answer (a tracking server down, an unreadable database), named.
    """
    from mlflow.exceptions import MlflowException

    try:
        _mlflow().MlflowClient().get_run(run_id)
    except MlflowException as e:
        if e.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise GenForgeError(f"cannot ask {tracking_uri()} for MLflow run {run_id}: {e}") from e
    return True


def end_run(run_id: str, status: str) -> None:
    """Mark a run ``FINISHED`` or ``FAILED`` (MLflow still accepts metrics and artifacts for it afterwards)."""
    _client(run_id).set_terminated(run_id, status)


def reopen_run(run_id: str) -> None:
    """Mark an ended run ``RUNNING`` again (a resumed search continues its parent run)."""
    _client(run_id).update_run(run_id, status="RUNNING")


def end_runs_with_tag(experiment: str, tag: str, value: str, status: str) -> int:
    """Mark every ``RUNNING`` run of ``experiment`` whose tag ``tag`` is ``value`` as ``status`` (``KILLED`` for the
    runs of a killed process); returns how many."""
    mlflow = _mlflow()
    client = mlflow.MlflowClient()
    runs = client.search_runs([experiment_id(experiment)],
                              f"tags.`{tag}` = '{value}' and attributes.status = 'RUNNING'")
    for run in runs:
        client.set_terminated(run.info.run_id, status)
    return len(runs)


def log_metrics(run_id: str, metrics: Mapping[str, float], *, prefix: str = "", step: int | None = None) -> None:
    """Log numeric ``metrics`` to a run, each under the key ``metric_key(prefix + key)`` (see :func:`metric_keys`);
    booleans are logged as 0 or 1."""
    import mlflow.entities

    client = _client(run_id)
    now = int(time.time() * 1000)
    keys = metric_keys(prefix + k for k in metrics)
    batch = [mlflow.entities.Metric(keys[prefix + k], float(v), now, step or 0) for k, v in metrics.items()]
    for i in range(0, len(batch), 1000):  # MLflow accepts at most 1000 metrics per batch
        client.log_batch(run_id, metrics=batch[i:i + 1000])


def set_tags(run_id: str, tags: Mapping[str, Any]) -> None:
    """Set string tags on a run."""
    client = _client(run_id)
    for k, v in tags.items():
        client.set_tag(run_id, k, str(v))


def log_text(run_id: str, text: str, artifact_file: str) -> None:
    """Store ``text`` as the artifact ``artifact_file`` of a run."""
    _client(run_id).log_text(run_id, text, artifact_file)


def log_table(run_id: str, columns: Mapping[str, list], artifact_file: str) -> None:
    """Store a table (``{column: values}``, equal lengths) as the JSON artifact ``artifact_file`` of a run, which
    the MLflow UI shows as a table (``MlflowClient.log_table``)."""
    _client(run_id).log_table(run_id, data=dict(columns), artifact_file=artifact_file)


def log_image(run_id: str, image, key: str, step: int) -> None:
    """Log ``image`` (``uint8 (H, W)`` or ``(H, W, 3)``) as step ``step`` of the run's image series ``key``, which
    the MLflow UI shows with a step slider (``MlflowClient.log_image`` with ``key`` and ``step``)."""
    import numpy as np

    image = np.asarray(image)
    _client(run_id).log_image(run_id, image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image,
                              key=key, step=step)


def log_artifact(run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
    """Copy a local file into the run's artifacts."""
    _client(run_id).log_artifact(run_id, str(path), artifact_path)


def log_artifact_as(run_id: str, path: str | Path, artifact_file: str) -> None:
    """Store the local file ``path`` as the artifact ``artifact_file`` (a path with a file name) of a run."""
    import shutil
    import tempfile

    folder, _, filename = artifact_file.rpartition("/")
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copyfile(path, Path(tmp) / filename)
        _client(run_id).log_artifact(run_id, str(Path(tmp) / filename), folder or None)


EPOCH_SAMPLES = "samples/epochs.json"  # the per-epoch samples table of a training run
EPOCH_IMAGES = "samples"  # the per-epoch sample grids of an image generator's training run (an image series)
# The per-epoch curves' key prefix. The MLflow UI (3.x) draws one chart per metric, in sections named by the key up to
# its last "/", sorted by name, with the unprefixed keys ("Model metrics") last: under this prefix the curves come
# before every section of one-off figures but "adaptability".
CURVES = "curves/"


def epoch_logger(run_id: str, sample_fn=None, image_fn=None):
    """A Keras callback that logs every epoch's logs (``loss``, ``val_loss``, ``accuracy``, ...) to the run as
    ``curves/loss``, ... (:data:`CURVES`) with ``step=epoch``. If ``sample_fn(model) -> str`` is given, it appends
    the row ``(epoch, sample)`` to the run's table :data:`EPOCH_SAMPLES` (``MlflowClient.log_table`` appends to an
    existing table), which the MLflow UI shows for several runs side by side
    (``MlflowClient().load_table(experiment_id, EPOCH_SAMPLES, run_ids)`` reads them together); if
    ``image_fn(model) -> uint8 image`` is given, it logs the image as step ``epoch`` of the series
    :data:`EPOCH_IMAGES` (:func:`log_image`). Its ``drawn`` lists ``(epoch, sample or image)`` of the epochs this
    process trained (a resumed run's list starts at the resumed epoch), for
    :func:`genforge.core.plots.epoch_samples_plot`."""
    import keras

    class MlflowEpochLogger(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.drawn = []

        def on_epoch_end(self, epoch, logs=None):
            log_metrics(run_id, {k: v for k, v in (logs or {}).items() if k != "learning_rate"}, prefix=CURVES,
                        step=epoch + 1)
            if sample_fn is not None:
                self.drawn.append((epoch + 1, sample_fn(self.model)))
                log_table(run_id, {"epoch": [epoch + 1], "sample": [self.drawn[-1][1]]}, EPOCH_SAMPLES)
            if image_fn is not None:
                self.drawn.append((epoch + 1, image_fn(self.model)))
                log_image(run_id, self.drawn[-1][1], EPOCH_IMAGES, epoch + 1)

    return MlflowEpochLogger()


def model_code(modality: str) -> list[Path]:
    """The files a registered model of ``modality`` carries as its code: ``genforge/__init__.py``,
    ``genforge/core``, ``genforge/<modality>`` and the packages of the modalities it ``uses``
    (:class:`genforge.core.modality.Modality`; each a declared dependency of the register stage in dvc.yaml)."""
    from genforge.core.modality import get_modality

    package = Path(__file__).parents[1]
    uses = getattr(get_modality(modality), "uses", ())
    return [package / "__init__.py", package / "core", package / modality, *(package / m for m in uses)]


def pinned(names) -> list[str]:
    """``name==version`` of each installed distribution of ``names`` (those not installed are left out): the
    ``pip_requirements`` of a logged model, pinned to what trained it."""
    from importlib.metadata import PackageNotFoundError, version

    reqs = []
    for name in names:
        try:
            reqs.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return reqs


def log_model(run_id: str, *, python_model: Path, artifacts: Mapping[str, str], signature,
              pip_requirements: list[str], registered_name: str, modality: str, input_example=None) -> int:
    """Log a pyfunc model from code (``python_model``, a file that calls ``mlflow.models.set_model``) named
    ``model`` in the run, with the part of the ``genforge`` package that ``modality`` needs (:func:`model_code`) as
    its code, and register it as a new version of ``registered_name``; return the version number.

    Args:
        run_id: the model's training run.
        python_model: the model-from-code file (MLflow docs, *Models From Code*).
        artifacts: ``{name: local path}`` copied with the model (``context.artifacts[name]`` at load time).
        signature: an ``mlflow.models.ModelSignature``: what ``mlflow models serve`` accepts and returns.
        pip_requirements: the packages a served model installs.
        registered_name: the registered model.
        modality: the generator's modality, whose package the model carries.
        input_example: a request the model answers, saved with it (MLflow checks it against the signature and
            shows it as the serving example), or ``None``.
    """
    import shutil
    import tempfile

    mlflow = _mlflow()
    _client(run_id)
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_id=run_id):
        staged = Path(tmp) / "genforge"
        staged.mkdir()
        for path in model_code(modality):
            if path.is_dir():
                shutil.copytree(path, staged / path.name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copyfile(path, staged / path.name)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(python_model),
            artifacts=dict(artifacts),
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
            code_paths=[str(staged)],
            registered_model_name=registered_name,
        )
    return int(info.registered_model_version)


def champion_version(name: str):
    """The version of registered model ``name`` that holds the ``champion`` alias, or ``None`` when there is none
    (the registered model does not exist yet, or it has no champion).

    Raises:
        GenForgeError: any other failure of the registry (a server that does not answer, say): a stage must not take
            it for "no champion yet".
    """
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    client = _mlflow().MlflowClient()
    try:
        aliases = client.get_registered_model(name).aliases  # {alias: version}
        return client.get_model_version(name, aliases[CHAMPION]) if CHAMPION in aliases else None
    except MlflowException as e:
        if e.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):  # no registered model of that name yet
            return None
        raise GenForgeError(f"MLflow registry at {tracking_uri()}: cannot read the champion of {name}: {e}") from e


def set_version_tags(name: str, version: int, tags: Mapping[str, Any]) -> None:
    """Set string tags on version ``version`` of registered model ``name``."""
    client = _mlflow().MlflowClient()
    for k, v in tags.items():
        client.set_model_version_tag(name, str(version), k, str(v))


def find_version(name: str, tag: str, value: str) -> int | None:
    """The newest version of registered model ``name`` whose tag ``tag`` is ``value``, or ``None``."""
    client = _mlflow().MlflowClient()
    versions = client.search_model_versions(f"name = '{name}' and tag.`{tag}` = '{value}'")
    return max((int(v.version) for v in versions), default=None)


def promote(name: str, version: int, metric: str, value: float, *, passed: bool, direction: str = "lower",
            margin: float = 0.0, reasons: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Set the registry aliases of a new version after the evaluation gate.

    A version that failed the gate (``passed`` false) gets no alias. One that passed becomes ``challenger``, and also
    ``champion`` when there is no champion yet or its ``metric`` beats the champion's by more than ``margin`` (in the
    metric's units): lower by more than ``margin`` with ``direction`` ``"lower"``, higher with ``"higher"``. The
    metric value, the gate result and the decision are stored as version tags, so that later comparisons need no run
    look-up.

    Returns:
        ``{"version", "aliases", "decision", "champion_version", "previous_champion", "previous_value",
        "previous_metrics"}``; ``previous_metrics`` holds the previous champion run's ``test/*`` metrics (without the
        prefix), for comparison.

    Raises:
        GenForgeError: the registry fails other than by having no champion yet.
    """
    client = _mlflow().MlflowClient()
    v = str(version)
    current = champion_version(name)
    prev_version = prev_value = None
    prev_metrics: dict[str, float] = {}
    worst = float("inf") if direction == "lower" else float("-inf")
    if current is not None:
        prev_version = int(current.version)
        prev_value = float(current.tags[metric]) if metric in current.tags else worst
        if current.run_id:
            run_metrics = client.get_run(current.run_id).data.metrics
            prev_metrics = {k[5:]: val for k, val in run_metrics.items() if k.startswith("test/")}
    aliases: list[str] = []
    word = "lower" if direction == "lower" else "higher"
    if not passed:
        decision = "no alias: the gate failed: " + "; ".join(reasons)
    else:
        aliases.append(CHALLENGER)
        beats = prev_value is not None and (value < prev_value - margin if direction == "lower"
                                            else value > prev_value + margin)
        if prev_version is None:
            aliases.append(CHAMPION)
            decision = "champion: there was no champion"
        elif beats:
            aliases.append(CHAMPION)
            decision = (f"champion: {metric} {value:.4f} beats champion v{prev_version} ({prev_value:.4f}): "
                        f"{word} by more than {margin:g}")
        else:
            decision = (f"challenger: {metric} {value:.4f} is not {word} than champion v{prev_version}'s "
                        f"({prev_value:.4f}) by more than {margin:g}")
    for key, tag in ((metric, repr(value)), ("gate.passed", str(passed).lower()), ("decision", decision)):
        client.set_model_version_tag(name, v, key, tag)
    for alias in aliases:
        client.set_registered_model_alias(name, alias, v)
    champion = version if CHAMPION in aliases else prev_version
    return {"version": version, "aliases": aliases, "decision": decision, "champion_version": champion,
            "previous_champion": prev_version, "previous_value": prev_value, "previous_metrics": prev_metrics}


def load_pyfunc(uri: str):
    """Load a logged generator (``models:/NAME@ALIAS`` and friends) as an MLflow pyfunc model.

    Raises:
        GenForgeError: the URI names no model in the tracking store.
    """
    mlflow = _mlflow()
    try:
        return mlflow.pyfunc.load_model(uri)
    except Exception as e:
        raise GenForgeError(f"cannot load {uri} from {tracking_uri()}: {e}") from e
