import math

import numpy as np
import pytest

from genforge.text.metrics import accuracy, language_model_metrics, token_nll, top_k_hits


def test_token_nll_hand_computed():
    # softmax([0, ln 3]) = [1/4, 3/4]
    logits = np.array([[0.0, math.log(3)], [0.0, math.log(3)]])
    nll = token_nll(logits, np.array([1, 0]))
    assert nll == pytest.approx([math.log(4 / 3), math.log(4)])


def test_token_nll_is_stable_for_large_logits():
    assert token_nll(np.array([[1000.0, 0.0]]), np.array([0]))[0] == pytest.approx(0.0, abs=1e-12)


def test_token_nll_rejects_bad_input():
    with pytest.raises(ValueError, match="does not match"):
        token_nll(np.zeros((2, 3)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="targets must lie"):
        token_nll(np.zeros((1, 3)), np.array([3]))


def test_language_model_metrics_hand_computed():
    # two tokens each with probability 1/2: 2 ln 2 nats in all
    m = language_model_metrics(2 * math.log(2), 2, correct=1, unit="character")
    assert m["cross_entropy"] == pytest.approx(math.log(2))
    assert m["perplexity"] == pytest.approx(2.0)
    assert m["bits_per_character"] == pytest.approx(1.0)
    assert m["accuracy"] == 0.5 and m["tokens"] == 2
    assert "bits_per_byte" in language_model_metrics(1.0, 1, 0, "byte")
    with pytest.raises(ValueError):
        language_model_metrics(1.0, 0, 0, "byte")


def test_accuracy():
    assert accuracy(np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), np.array([1, 1, 1])) == pytest.approx(2 / 3)


def test_top_k_hits_hand_computed():
    logits = np.array([[0.1, 0.5, 0.3, 0.2],    # order: 1, 2, 3, 0
                       [1.0, 1.0, 1.0, 0.0]])   # a three-way tie at the top
    assert top_k_hits(logits, np.array([2, 3]), 1).tolist() == [False, False]
    assert top_k_hits(logits, np.array([2, 3]), 2).tolist() == [True, False]
    assert top_k_hits(logits, np.array([0, 2]), 3).tolist() == [False, True]  # 0 is 4th; 2 ties with two above
    assert top_k_hits(logits, np.array([0, 3]), 4).tolist() == [True, True]
    with pytest.raises(ValueError, match="k must be >= 1"):
        top_k_hits(logits, np.array([0, 0]), 0)


def test_language_model_metrics_top5():
    m = language_model_metrics(total_nats=4 * math.log(2), n_tokens=4, correct=1, unit="character", correct_top5=3)
    assert m["bits_per_character"] == pytest.approx(1.0)
    assert m["accuracy"] == 0.25 and m["top5_accuracy"] == 0.75
