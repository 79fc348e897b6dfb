import numpy as np
import pytest

from genforge import GenForgeError
from genforge.text.adaptability import adaptability
from genforge.text.models import build_lstm


def test_adaptability_fine_tunes_a_copy_and_compares_with_a_fresh_model():
    import keras

    keras.utils.set_random_seed(0)
    model = build_lstm(5, embedding_dim=4, layers=1, units=8)
    before = [w.copy() for w in model.get_weights()]
    domain = np.tile(np.array([1, 2, 3, 4]), 100)  # a periodic "domain" any model can learn
    out = adaptability(model, domain, steps=40, seq_len=8, batch_size=8, learning_rate=0.05,
                       fresh_learning_rate=0.05, context=16, unit="character", seed=0, holdout_fraction=0.2)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))  # not modified
    assert out["tokens"] == 400 and out["steps"] == 40
    assert out["loss_after"] < out["loss_before"]  # fine-tuning on the domain helps on its held-out part
    assert out["gain_over_fresh"] == pytest.approx(out["loss_fresh"] - out["loss_after"])
    with pytest.raises(GenForgeError, match="the adaptability domain has 10 tokens"):
        adaptability(model, domain[:10], steps=1, seq_len=8, batch_size=2, learning_rate=0.01,
                     fresh_learning_rate=0.01, context=16, unit="character", seed=0, holdout_fraction=0.2)


def test_the_fine_tune_and_the_fresh_model_each_use_their_own_learning_rate():
    import keras

    keras.utils.set_random_seed(0)
    model = build_lstm(5, embedding_dim=4, layers=1, units=8)
    domain = np.tile(np.array([1, 2, 3, 4]), 100)
    out = adaptability(model, domain, steps=40, seq_len=8, batch_size=8, learning_rate=1e-12,
                       fresh_learning_rate=0.05, context=16, unit="character", seed=0, holdout_fraction=0.2)
    assert out["loss_after"] == pytest.approx(out["loss_before"], abs=1e-6)  # a rate of 1e-12 moves no weight
    assert out["loss_fresh"] < np.log(5) - 0.3  # the fresh model, at 0.05, learns the period (uniform: ln 5 nats)
