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


class _StopAt:
    """Raise at global step ``step`` (a kill, in-process): the state saved at the step before survives."""

    def __new__(cls, step: int):
        import keras

        class StopAt(keras.callbacks.Callback):
            seen = 0

            def on_train_batch_end(self, batch, logs=None):
                StopAt.seen += 1
                if StopAt.seen == step:
                    raise KeyboardInterrupt

        return StopAt()


def _averaging_fit(checkpoint=None, callbacks=()):
    """w <- w - 0.1 * d(w^2)/dw = 0.8 w from w = 1 (SGD on the MSE of w * 1 against 0), averaged with momentum 0.5:
    3 epochs of 3 steps, validated on the same point."""
    import keras
    import tensorflow as tf

    from genforge.core.trainer import fit

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")])
    model.compile(optimizer=keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5), loss="mse")
    x, y = np.ones((9, 1), "float32"), np.zeros((9, 1), "float32")

    def dataset(start_step, epochs):
        return tf.data.Dataset.from_tensor_slices((x[start_step:], y[start_step:])).batch(1)

    state = fit(model, dataset, strategy=tf.distribute.get_strategy(), epochs=3, steps_per_epoch=3,
                validation_data=(x[:1], y[:1]), patience=3, checkpoint=checkpoint, checkpoint_steps=1,
                callbacks=list(callbacks))
    return model, state


def test_weight_average_is_validated_kept_and_resumed_exactly(tmp_path):
    # by hand: w_t = 0.8^t; Keras's average starts at w_1 and then a_t = 0.5 a_(t-1) + 0.5 w_t
    w = 0.8 ** np.arange(1, 10)
    a = [w[0]]
    for t in range(1, 9):
        a.append(0.5 * a[-1] + 0.5 * w[t])
    model, state = _averaging_fit()
    # each epoch is validated with the averaged weight (loss a^2), and the model ends with the best epoch's average
    assert [r["val_loss"] for r in state.history] == pytest.approx([a[2] ** 2, a[5] ** 2, a[8] ** 2], rel=1e-5)
    assert float(model.get_weights()[0][0, 0]) == pytest.approx(a[8], rel=1e-6)
    # killed in epoch 2 (after step 5; the save of step 4 survives) and resumed: the same as the uninterrupted run
    folder = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        _averaging_fit(folder, [_StopAt(5)])
    resumed, again = _averaging_fit(folder)
    assert again.resumed_from == 4
    assert float(resumed.get_weights()[0][0, 0]) == pytest.approx(a[8], rel=1e-6)
    assert [r["val_loss"] for r in again.history] == pytest.approx([r["val_loss"] for r in state.history], rel=1e-6)


def test_progress_is_printed_at_most_every_30_seconds_with_rate_and_eta():
    from types import SimpleNamespace

    from genforge.core.trainer import progress_callback

    state = SimpleNamespace(step=0, step_losses=[], step_key="loss")
    times, lines = iter([0.0, 10.0, 31.0, 40.0, 62.0]), []
    callback = progress_callback(state, total_steps=100, clock=lambda: next(times), out=lines.append)
    for step, loss in ((1, 4.0), (5, 3.0), (32, 2.5), (40, 2.4), (63, 2.25)):
        state.step = step
        state.step_losses.append((step, loss))
        callback.on_train_batch_end(step - 1)
    # by hand: at 31 s, 31 steps since step 1 at 0 s: 1.00 steps/s, 68 steps left: 68 s = 1.1 min;
    # at 62 s, 31 steps since step 32 at 31 s: 1.00 steps/s, 37 left: 0.6 min; nothing at 10 s and 40 s
    assert lines == ["progress: step 32/100 (32 %), loss 2.5000, 1.00 steps/s, ETA 1.1 min",
                     "progress: step 63/100 (63 %), loss 2.2500, 1.00 steps/s, ETA 0.6 min"]
