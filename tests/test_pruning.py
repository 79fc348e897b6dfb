"""Magnitude pruning: the schedule, the masks, and a real fine-tune that leaves exactly the target share of zeros."""

from pathlib import Path

import numpy as np
import pytest

from genforge import GenForgeError
from genforge.core.config import load_params
from genforge.core.pruning import magnitude_mask, polynomial_sparsity, prunable_weights, sparsity_report
from genforge.text.config import Prune
from genforge.text.models import build_lstm
from genforge.text.pruning import prune_model


def test_polynomial_schedule_hand_values():
    # s_t = 0.5 + (0 - 0.5) * (1 - t / 10) ** 3
    assert polynomial_sparsity(0, target=0.5, schedule_steps=10) == 0.0
    assert polynomial_sparsity(5, target=0.5, schedule_steps=10) == pytest.approx(0.5 - 0.5 * 0.125)  # 0.4375
    assert polynomial_sparsity(10, target=0.5, schedule_steps=10) == 0.5
    assert polynomial_sparsity(25, target=0.5, schedule_steps=10) == 0.5  # held after the schedule
    assert polynomial_sparsity(5, target=0.8, schedule_steps=10, power=1, initial=0.2) == pytest.approx(0.5)


def test_magnitude_mask_zeroes_the_smallest_and_breaks_ties_by_position():
    w = np.array([[0.1, -0.5], [0.3, 0.0]])
    assert magnitude_mask(w, 0.5).tolist() == [[0.0, 1.0], [1.0, 0.0]]  # |0.0| and |0.1| are the two smallest
    mask = magnitude_mask(np.ones(10), 0.3)
    assert mask.tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1, 1] and mask.dtype == np.float32
    assert magnitude_mask(w, 0.0).min() == 1.0
    with pytest.raises(GenForgeError, match=r"sparsity must be in \[0, 1\) \(got 1.0\)"):
        magnitude_mask(w, 1.0)


def test_prune_model_leaves_exactly_the_target_share_of_zeros():
    import keras

    keras.utils.set_random_seed(0)
    model = build_lstm(7, embedding_dim=4, layers=2, units=10)
    bias_before = model.get_layer("lstm_0").cell.bias.numpy().copy()
    tokens = np.random.default_rng(0).integers(0, 7, 3000)
    shipped = load_params(Path(__file__).resolve().parents[1] / "params.yaml").generators["plays-char-lstm"]
    train = shipped.train.model_copy(update=dict(
        embedding_dim=4, layers=2, units=10, seq_len=12, batch_size=4, learning_rate=0.01, weight_decay=0.0,
        clipnorm=1.0, dropout=0.0, recurrent_dropout=0.0, activation_l2=0.0, epochs=1, steps_per_epoch=0,
        random_offsets=True, patience=1, val_batches=1, sample_tokens=0))
    cfg = Prune(sparsity=0.6, steps=12, schedule_steps=8, frequency=3, power=3, learning_rate=0.01)
    report = prune_model(model, cfg, train, tokens, seed=1)
    weights = prunable_weights(model)
    assert [w.path for w in weights] == ["lstm_0/lstm_cell/kernel", "lstm_0/lstm_cell/recurrent_kernel",
                                         "lstm_1/lstm_cell/kernel", "lstm_1/lstm_cell/recurrent_kernel",
                                         "logits/kernel"]
    for w in weights:  # exactly round(0.6 * size) zeros in each tensor
        value = w.numpy()
        assert int((value == 0).sum()) == round(0.6 * value.size), w.path
        assert report[w.path] == round(0.6 * value.size) / value.size
    assert report == sparsity_report(model)
    assert report["total"] == pytest.approx(0.6, abs=0.01)
    assert (model.get_layer("lstm_0").cell.bias.numpy() != bias_before).any()  # trained, but biases are not pruned
    assert (model.get_layer("lstm_0").cell.bias.numpy() != 0).all()
