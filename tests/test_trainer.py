"""The core trainer on a model with two optimizers and two named losses (a 1-D GAN, tests/gan_script.py): an exact
resume after SIGKILL, and early stopping on a metric where higher is better."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).with_name("gan_script.py")


def run(tmp_path: Path, name: str, config: dict) -> subprocess.CompletedProcess:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, str(SCRIPT), str(path)], env=env, capture_output=True, text=True,
                          timeout=600)


def result(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_two_optimizer_model_resumes_exactly_after_sigkill(tmp_path):
    whole = result(run(tmp_path, "whole", {"checkpoint": None}))
    folder = str(tmp_path / "ckpt")
    killed = run(tmp_path, "killed", {"checkpoint": folder, "kill_at": 18})  # mid-epoch 2 (12 steps an epoch)
    assert killed.returncode == -signal.SIGKILL
    state = json.loads((Path(folder) / "state.json").read_text())
    assert state["step"] == 16  # the last save before the kill: every 4 steps
    resumed = result(run(tmp_path, "resumed", {"checkpoint": folder}))
    assert resumed["resumed_from"] == 16 and resumed["step"] == whole["step"] == 36
    for a, b in zip(resumed["weights"], whole["weights"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
    assert [r["epoch"] for r in resumed["history"]] == [1, 2, 3]
    for a, b in zip(resumed["history"], whole["history"], strict=True):
        assert a.keys() == b.keys() == {"epoch", "d_loss", "g_loss", "val_d_loss", "val_g_loss"}
        assert a == pytest.approx(b, abs=1e-6)
    assert [s for s, _ in resumed["step_losses"]] == list(range(1, 37))  # one g_loss per step, none twice
    assert np.allclose([v for _, v in resumed["step_losses"]], [v for _, v in whole["step_losses"]], atol=1e-6)


def test_early_stopping_follows_a_metric_where_higher_is_better(tmp_path):
    import keras

    from genforge.core.checkpoint import TrainingState

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    state = TrainingState(None, steps_per_epoch=1, patience=1, monitor="val_score", mode="max")
    state.set_model(model)
    for epoch, score in enumerate([0.2, 0.5, 0.4]):
        state.on_epoch_begin(epoch)
        state.on_train_batch_end(0, {"loss": 1.0})
        state.on_epoch_end(epoch, {"val_score": score})
    assert state.best == 0.5 and state.wait == 1 and state.stopped  # 0.4 after 0.5 is no improvement
    assert [r["val_score"] for r in state.history] == [0.2, 0.5, 0.4]
    with pytest.raises(ValueError, match="mode"):
        TrainingState(None, steps_per_epoch=1, patience=1, mode="lowest")
