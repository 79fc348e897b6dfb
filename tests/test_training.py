import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genforge import GenForgeError
from genforge.core.config import load_params
from genforge.core.trainer import learning_rate
from genforge.text.config import Train
from genforge.text.training import fit_generator

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).with_name("train_script.py")


def tiny_train(**update) -> Train:
    base = load_params(REPO / "params.yaml").generators["plays-char-lstm"].train
    tiny = {"embedding_dim": 8, "units": 16, "seq_len": 10, "batch_size": 8, "epochs": 3, "steps_per_epoch": 10,
            "val_batches": 0, "sample_tokens": 0, "learning_rate": 0.01, "warmup_steps": 3, "patience": 5,
            "checkpoint_steps": 5, "mlp": base.mlp.model_copy(update={"hidden": [32], "context": 4}),
            "gpt": base.gpt.model_copy(update={"n_layer": 1, "n_head": 2, "n_embd": 16})}
    return base.model_copy(update={**tiny, **update})


def run_script(tmp_path: Path, name: str, config: dict, env: dict | None = None, wait: bool = True):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    cmd = [sys.executable, str(SCRIPT), str(path)]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    if not wait:
        return subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=600)


def result(proc) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("arch", ["lstm", "mlp", "gpt"])
def test_each_arch_trains_and_its_loss_falls(arch):
    sys.path.insert(0, str(SCRIPT.parent))
    from train_script import corpus

    train, val = corpus()
    cfg = tiny_train(arch=arch, epochs=2, learning_rate=0.03, xla=arch == "gpt")
    model, state, steps = fit_generator(cfg, 12, train, val, seed=0)
    first = np.mean([loss for _, loss in state.step_losses[:3]])
    assert [r["epoch"] for r in state.history] == [1, 2] and state.step == 2 * steps == 20
    assert state.history[-1]["loss"] < first - 0.1  # about ln 12 = 2.48 at the start
    assert state.history[-1]["val_loss"] < np.log(12) - 0.3  # val loss falls from a uniform guess's 2.48
    assert model.name == f"{arch}_generator"


def test_cosine_schedule_by_hand():
    s = learning_rate(tiny_train(lr_schedule="cosine", learning_rate=1.0, warmup_steps=10, min_lr_ratio=0.1), 110)
    # warmup: linear from 0; then lr = min + (peak - min) * (1 + cos(pi * t / 100)) / 2
    assert [round(float(s(i)), 4) for i in (0, 5, 10, 60, 110, 500)] == [0.0, 0.5, 1.0, 0.55, 0.1, 0.1]
    assert learning_rate(tiny_train(lr_schedule="constant", learning_rate=0.2), 10) == 0.2


def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path):
    cfg = tiny_train().model_dump(mode="json")
    whole = result(run_script(tmp_path, "whole", {"train": cfg, "seed": 3, "checkpoint": None}))
    config = {"train": cfg, "seed": 3, "checkpoint": str(tmp_path / "ckpt")}
    # killed at step 18 of 30: mid-epoch 2, three steps after the checkpoint of step 15
    killed = run_script(tmp_path, "killed", {**config, "kill_at": 18})
    assert killed.returncode == -9
    assert json.loads((tmp_path / "ckpt" / "state.json").read_text())["step"] == 15
    resumed = result(run_script(tmp_path, "resumed", config))
    assert resumed["resumed_from"] == 15 and resumed["steps"] == 30
    assert abs(resumed["val_loss"] - whole["val_loss"]) <= 1e-6
    for a, b in zip(resumed["history"], whole["history"], strict=True):
        assert a["epoch"] == b["epoch"] and abs(a["val_loss"] - b["val_loss"]) <= 1e-6
        assert abs(a["loss"] - b["loss"]) <= 1e-5  # epoch 2's mean joins steps from both processes


def test_a_checkpoint_of_another_model_is_refused_and_kept(tmp_path):
    sys.path.insert(0, str(SCRIPT.parent))
    from train_script import corpus

    train, val = corpus()
    folder = tmp_path / "ckpt"
    fit_generator(tiny_train(epochs=1), 12, train, val, seed=0, checkpoint=folder)
    written = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(GenForgeError, match=f"checkpoint {folder} does not hold this model.s variables .*Remove"):
        fit_generator(tiny_train(epochs=1, units=24), 12, train, val, seed=0, checkpoint=folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == written


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_worker_multiworker_mirrored_matches_one_worker(tmp_path):
    cfg = tiny_train(epochs=2, checkpoint_steps=0).model_dump(mode="json")
    config = {"train": cfg, "seed": 5, "checkpoint": None}
    one = result(run_script(tmp_path, "one", config))
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    config["checkpoint"] = str(tmp_path / "checkpoint")  # ignored: multi-worker runs do not resume
    procs = [run_script(tmp_path, f"worker{i}", config, wait=False, env={"TF_CONFIG": json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})}) for i in range(2)]
    outs = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr[-3000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    # each worker computes the gradients of half of every global batch of 8; their all-reduced sum differs from
    # the one-process gradient only in floating-point summation order, so the losses agree to about 1e-6 per step
    for out in outs:
        assert out["steps"] == one["steps"] == 20
        assert abs(out["val_loss"] - one["val_loss"]) < 1e-4
        for a, b in zip(out["history"], one["history"], strict=True):
            assert abs(a["loss"] - b["loss"]) < 1e-4 and abs(a["val_loss"] - b["val_loss"]) < 1e-4
    assert outs[0]["val_loss"] == outs[1]["val_loss"]  # the workers hold the same weights
    assert not (tmp_path / "checkpoint").exists()
    assert "multi-worker training does not checkpoint" in stderr


def test_bad_tf_config_and_non_chief_stage(monkeypatch):
    from genforge.core.trainer import is_chief

    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(GenForgeError, match="TF_CONFIG is not a JSON object"):
        fit_generator(tiny_train(), 12, np.arange(200) % 12, np.arange(200) % 12, seed=0)
    with pytest.raises(GenForgeError, match="TF_CONFIG is not a JSON object.*'{not json'"):
        is_chief()  # the train stage asks this first: its message, not a traceback
    for bad in ({"cluster": {"worker": "127.0.0.1:1"}}, {"cluster": {}, "task": {"index": "first"}}, [1]):
        monkeypatch.setenv("TF_CONFIG", json.dumps(bad))
        with pytest.raises(GenForgeError, match="TF_CONFIG is not a JSON object with a 'cluster' of task lists"):
            is_chief()
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert not is_chief()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    assert is_chief()


def test_batch_must_split_over_replicas(monkeypatch):
    import tensorflow as tf

    class Two:
        num_replicas_in_sync = 2

        def scope(self):
            return tf.distribute.get_strategy().scope()

    monkeypatch.setattr("genforge.text.training.distribution_strategy", lambda: Two())
    with pytest.raises(GenForgeError, match="batch_size .7. must be a multiple of the 2 replicas"):
        fit_generator(tiny_train(batch_size=7), 12, np.arange(200) % 12, np.arange(200) % 12, seed=0)


def test_precision_and_steps_per_execution():
    import keras
    from pydantic import ValidationError

    sys.path.insert(0, str(SCRIPT.parent))
    from train_script import corpus

    train, val = corpus()
    cfg = tiny_train(precision="mixed_bfloat16", steps_per_execution=5, epochs=1)
    model, state, _ = fit_generator(cfg, 12, train, val, seed=0)
    assert model.get_layer("lstm_0").compute_dtype == "bfloat16"
    assert model.get_layer("logits").compute_dtype == "float32"  # the softmax sees float32 logits
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored after building
    assert [step for step, _ in state.step_losses] == [5, 10]  # one report per execution of 5 steps
    assert np.isfinite([loss for _, loss in state.step_losses]).all()
    with pytest.raises(ValidationError, match="multiple of steps_per_execution"):
        Train.model_validate({**tiny_train().model_dump(), "steps_per_execution": 2, "checkpoint_steps": 5})


def test_thread_pools_are_sized_in_a_fresh_process_and_kept_with_a_warning_after():
    script = """
import json, logging, sys
from genforge.core.config import load_params
from genforge.core.trainer import set_threads
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(message)s")
base = load_params(sys.argv[1]).generators["plays-char-lstm"].train
assert set_threads(base)  # 0 and 0: TensorFlow's choice, nothing to do
wanted = base.model_copy(update={"intra_op_threads": 1, "inter_op_threads": 2})
assert set_threads(wanted)
import tensorflow as tf
print(float(tf.reduce_sum(tf.ones(3))))  # the runtime starts with those pools
t = tf.config.threading
print(json.dumps([t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads()]))
assert set_threads(wanted)  # the same sizes again: fine
print(set_threads(base.model_copy(update={"intra_op_threads": 2})))
"""
    out = subprocess.run([sys.executable, "-c", script, str(REPO / "params.yaml")], capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:2] == ["3.0", "[1, 2]"]
    assert "TensorFlow already runs with 1 intra-op and 2 inter-op threads" in lines[2]
    assert "train.intra_op_threads=2" in lines[2] and lines[3] == "False"


def test_thread_counts_move_the_loss_only_within_the_readmes_tolerance(tmp_path):
    """README, "What `dvc repro` reproduces": the same machine and threads give the same loss to the last bit;
    another thread layout (what another machine's oneDNN schedules) within 0.5 % relative."""
    runs = {}
    for name, threads in (("one", 1), ("two", 2), ("one_again", 1)):
        cfg = tiny_train(units=256, batch_size=32, seq_len=32, intra_op_threads=threads, inter_op_threads=1)
        cfg = cfg.model_dump(mode="json")
        runs[name] = result(run_script(tmp_path, name, {"train": cfg, "seed": 5, "checkpoint": None}))["val_loss"]
    print(f"val loss by threads: {runs}")
    assert runs["one_again"] == runs["one"]
    assert abs(runs["two"] - runs["one"]) <= 0.005 * runs["one"]
