import hashlib

import pytest
from mlflow.utils.validation import path_not_unique, validate_param_and_metric_name

from genforge import GenForgeError
from genforge.core import tracking
from genforge.core.tracking import metric_key, metric_keys


def test_valid_names_are_kept():
    for name in ("loss", "test/bits_per_character", "a b-c.d:e_f", "période/ok"):
        assert metric_key(name) == name


def test_invalid_names_map_to_valid_distinct_keys_deterministically():
    names = ["loss (nats)", "loss [nats]", "loss {nats}", "/lead", "trail/", "a//b", "../up", "./x", "per%cent",
             "x" * 300, "x" * 299 + "y", "", "tab\there"]
    keys = metric_keys(names)
    assert len(set(keys.values())) == len(names)
    for key in keys.values():
        assert validate_param_and_metric_name(key) and not path_not_unique(key) and 0 < len(key) <= 250, key
    # worked out by hand: bad characters become "_", then "_" + the first 8 hex digits of the name's sha256
    assert metric_key("loss (nats)") == "loss _nats__" + hashlib.sha256(b"loss (nats)").hexdigest()[:8]
    assert metric_key("a//b") == "a/b_" + hashlib.sha256(b"a//b").hexdigest()[:8]
    assert metric_keys(names) == keys


def test_a_valid_name_equal_to_another_mapped_key_is_refused():
    with pytest.raises(GenForgeError, match="both map to the MLflow key"):
        metric_keys(["a!", metric_key("a!")])


def test_mlflow_accepts_every_mapped_key(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run_id = tracking.start_training_run("keys", {}, {})
    names = {"loss (nats)": 1.0, "/lead": 2.0, "../up": 3.0, "x" * 300: 4.0, "ok/name": 5.0}
    tracking.log_metrics(run_id, names)
    logged = mlflow.MlflowClient().get_run(run_id).data.metrics
    assert logged == {metric_key(k): v for k, v in names.items()}


def test_a_run_is_named_after_its_generator_and_commit_or_dvc_experiment_with_its_source(tmp_path, monkeypatch):
    import subprocess

    import mlflow

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for key in ("DVC_EXP_NAME", "DVC_STAGE"):
        monkeypatch.delenv(key, raising=False)
    subprocess.run(["git", "init", "-q"], check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x"],
                   check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    client = mlflow.MlflowClient(tracking.tracking_uri())
    plain = client.get_run(tracking.start_training_run("names", {"generator": "g1"}, {}))
    assert plain.info.run_name == f"g1-{commit[:7]}"
    assert plain.data.tags["mlflow.source.name"] == "python" and plain.data.tags["mlflow.source.type"] == "LOCAL"
    assert plain.data.tags["mlflow.source.git.commit"] == commit and "dvc.exp_name" not in plain.data.tags
    monkeypatch.setenv("DVC_EXP_NAME", "wider-lstm")
    monkeypatch.setenv("DVC_STAGE", "train@g1")
    exp = client.get_run(tracking.start_training_run("names", {"generator": "g1"}, {"mlflow.note.content": "d"}))
    assert exp.info.run_name == "g1-wider-lstm" and exp.data.tags["dvc.exp_name"] == "wider-lstm"
    assert exp.data.tags["mlflow.source.name"] == "dvc.yaml:train@g1" and exp.data.tags["mlflow.note.content"] == "d"
    named = client.get_run(tracking.start_training_run("names", {"generator": "g1"}, {}, run_name="trial-3"))
    assert named.info.run_name == "trial-3"


def test_data_files_are_logged_as_datasets_with_the_dvc_md5_as_digest(tmp_path, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "train.npy").write_bytes(b"abc")
    (tmp_path / "val.npy").write_bytes(b"")
    run_id = tracking.start_training_run("data", {}, {})
    files = {"training": "train.npy", "validation": "val.npy"}
    tracking.log_datasets(run_id, files, "g1")
    tracking.log_datasets(run_id, files, "g1")  # a resumed run logs them again: nothing is added
    inputs = mlflow.MlflowClient(tracking.tracking_uri()).get_run(run_id).inputs.dataset_inputs
    seen = {(i.dataset.name, i.dataset.digest, i.dataset.source, tuple((t.key, t.value) for t in i.tags))
            for i in inputs}
    # md5 of b"abc" and of the empty file, as `md5sum` prints them
    assert seen == {("g1/train", "900150983cd24fb0d6963f7d28e17f72", '{"uri": "train.npy"}',
                     (("mlflow.data.context", "training"),)),
                    ("g1/val", "d41d8cd98f00b204e9800998ecf8427e", '{"uri": "val.npy"}',
                     (("mlflow.data.context", "validation"),))}
    assert len(inputs) == 2


def test_run_links_are_http_pages_of_the_ui(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("GENFORGE_MLFLOW_UI_URL", raising=False)
    run_id = tracking.start_training_run("genforge-links", {}, {})
    tracking.start_training_run("other", {}, {})  # not a genforge-* experiment: not listed
    experiment = tracking.experiment_id("genforge-links")
    assert tracking.run_links(run_id, "genforge-g", 2) == {
        "run": f"http://127.0.0.1:5000/#/experiments/{experiment}/runs/{run_id}",
        "version": "http://127.0.0.1:5000/#/models/genforge-g/versions/2"}
    monkeypatch.setenv("GENFORGE_MLFLOW_UI_URL", "http://mlflow.example:8080/")
    assert tracking.run_links(run_id, "genforge-g", None) == {
        "run": f"http://mlflow.example:8080/#/experiments/{experiment}/runs/{run_id}"}
    assert tracking.runs_page_links("http://h:5000") == {
        "genforge-links": f"http://h:5000/#/experiments/{experiment}/runs?workflowType=machine_learning"}


def test_run_exists_tells_a_missing_run_from_a_store_that_cannot_answer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run_id = tracking.start_training_run("genforge-exists", {}, {})
    assert tracking.run_exists(run_id) is True
    assert tracking.run_exists("0" * 32) is False
    # nothing listens on port 9 (discard): the store cannot answer, which is not "no such run"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(GenForgeError, match=f"cannot ask http://127.0.0.1:9 for MLflow run {run_id}"):
        tracking.run_exists(run_id)


def test_the_pipelines_own_outputs_do_not_make_a_commit_dirty(tmp_path):
    import subprocess

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/train.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\nstages:\n  train:\n    cmd: python code.py\n    outs:\n"
                                       "    - path: metrics/train.json\n      md5: 0\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "x")
    commit = tracking.git_commit(tmp_path)
    assert len(commit) == 40
    (tmp_path / "metrics/train.json").write_text('{"loss": 1}')  # what a stage writes
    (tmp_path / "dvc.lock").write_text((tmp_path / "dvc.lock").read_text().replace("md5: 0", "md5: 1"))
    assert tracking.git_commit(tmp_path) == commit
    (tmp_path / "code.py").write_text("x = 2\n")  # an edit to the code is not the pipeline's
    assert tracking.git_commit(tmp_path) == commit + "-dirty"
