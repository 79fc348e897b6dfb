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
