import math

import numpy as np
import pytest

from genforge import GenForgeError
from genforge.efficiency import generation_speed
from genforge.models import build_lstm
from genforge.sampling import LSTMStepper, generate, generate_batch, next_token_distribution, sample_token
from genforge.tokenizers import CharTokenizer

LOGITS = np.array([0.0, math.log(3)])  # softmax = [1/4, 3/4]


def test_distribution_hand_computed():
    assert next_token_distribution(LOGITS, 1.0) == pytest.approx([0.25, 0.75])
    # temperature 2: softmax([0, ln 3 / 2]) = [1, sqrt 3] / (1 + sqrt 3)
    s3 = math.sqrt(3)
    assert next_token_distribution(LOGITS, 2.0) == pytest.approx([1 / (1 + s3), s3 / (1 + s3)])
    assert next_token_distribution(LOGITS, 0.0).tolist() == [0.0, 1.0]


def test_top_k_and_top_p():
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    assert next_token_distribution(logits, 1.0, top_k=2) == pytest.approx([0, 0, 3 / 7, 4 / 7])
    # nucleus 0.6: the smallest set reaching 0.6 is {0.4, 0.3}
    assert next_token_distribution(logits, 1.0, top_p=0.6) == pytest.approx([0, 0, 3 / 7, 4 / 7])
    assert next_token_distribution(logits, 1.0, top_p=0.3) == pytest.approx([0, 0, 0, 1])


def test_tiny_temperature_gives_no_nan():
    p = next_token_distribution(np.array([1.0, 1.0 + 1e-3, -50.0], dtype=np.float32), 1e-9)
    assert not np.isnan(p).any() and p.sum() == pytest.approx(1.0) and p.argmax() == 1


def test_higher_temperature_has_higher_entropy():
    logits = np.random.default_rng(0).normal(size=50) * 3

    def entropy(p):
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())

    values = [entropy(next_token_distribution(logits, t)) for t in (0.25, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and values[0] < values[-1]


def test_bad_arguments():
    for kwargs in ({"temperature": -1}, {"temperature": float("inf")}, {"temperature": float("nan")},
                   {"temperature": 1, "top_k": -1}, {"temperature": 1, "top_p": 0}, {"temperature": 1, "top_p": 1.5}):
        with pytest.raises(GenForgeError):
            next_token_distribution(LOGITS, **kwargs)


def test_sample_token_never_draws_zero_probability():
    rng = np.random.default_rng(0)
    p = np.array([0.0, 0.5, 0.0, 0.5, 0.0])
    draws = {sample_token(p, rng) for _ in range(500)}
    assert draws == {1, 3}


@pytest.fixture(scope="module")
def tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    tok = CharTokenizer.fit("abcdefgh \n")
    return build_lstm(tok.vocab_size, embedding_dim=4, layers=2, units=8), tok


def test_stepper_matches_full_model(tiny_model):
    model, tok = tiny_model
    ids = tok.encode("abc defg")
    full = np.asarray(model(ids[None, :]))[0]
    stepper = LSTMStepper(model)
    states = stepper.initial_state(1)
    for t, token in enumerate(ids):
        logits, states = stepper.step(np.array([token]), states)
        np.testing.assert_allclose(logits[0], full[t], atol=1e-5)


def test_generation_determinism_and_vocabulary(tiny_model):
    model, tok = tiny_model
    greedy = [generate(model, tok, "ab", max_new_tokens=30, temperature=0, seed=s) for s in (1, 2)]
    assert greedy[0] == greedy[1] and len(greedy[0]) == 30
    a = generate(model, tok, "ab", max_new_tokens=30, temperature=1.0, seed=3)
    b = generate(model, tok, "ab", max_new_tokens=30, temperature=1.0, seed=3)
    c = generate(model, tok, "ab", max_new_tokens=30, temperature=1.0, seed=4)
    assert a == b and a != c
    assert set(a) <= set(tok.chars)  # every token in the vocabulary, never <unk>
    with pytest.raises(GenForgeError, match="outside the model's vocabulary"):
        generate(model, tok, "xyz", max_new_tokens=5)
    with pytest.raises(GenForgeError, match="prompt must not be empty"):
        generate(model, tok, "", max_new_tokens=5)


def test_batch_rows_equal_single_generation_with_shifted_seeds(tiny_model):
    model, tok = tiny_model
    prompts = ["ab", "c", "gfe dc"]  # different lengths: shorter rows wait, they never read padding
    steps: list[float] = []
    batch = generate_batch(model, tok, prompts, max_new_tokens=12, temperature=1.0, seed=7, step_seconds=steps)
    single = [generate(model, tok, p, max_new_tokens=12, temperature=1.0, seed=7 + i) for i, p in enumerate(prompts)]
    assert batch == single
    assert len(steps) == 12 and all(s > 0 for s in steps)
    with pytest.raises(GenForgeError, match="prompts must not be empty"):
        generate_batch(model, tok, [], max_new_tokens=3)


def test_generation_speed_figures(tiny_model):
    model, tok = tiny_model
    speed = generation_speed(model, tok, "ab", batch=3, tokens=6)
    assert speed["chars_per_second"] > 0
    assert 0 < speed["latency_ms_p50"] <= speed["latency_ms_p95"]
