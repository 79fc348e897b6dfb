import math

import numpy as np
import pytest

from genforge import GenForgeError
from genforge.text.efficiency import generation_speed
from genforge.text.models import build_gpt, build_lstm, build_mlp
from genforge.text.sampling import (
    generate,
    generate_batch,
    generate_full_window,
    make_stepper,
    next_token_distribution,
    sample_logits,
)
from genforge.text.tokenizers import CharTokenizer

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


def _draws(logits, n=4000, temperature=1.0, top_k=0, top_p=1.0):
    logits = np.tile(np.asarray(logits, np.float32), (n, 1))
    u = np.random.default_rng(0).random(logits.shape, dtype=np.float32)
    return np.asarray(sample_logits(logits, np.float32(temperature), np.int32(top_k), np.float32(top_p), u))


def test_graph_sampler_follows_the_distribution():
    logits = np.log([0.1, 0.2, 0.3, 0.4])
    for kwargs, want in (({}, [0.1, 0.2, 0.3, 0.4]), ({"top_k": 3}, [0, 2 / 9, 3 / 9, 4 / 9]),
                         ({"top_p": 0.6}, [0, 0, 3 / 7, 4 / 7]), ({"temperature": 0.0}, [0, 0, 0, 1])):
        freq = np.bincount(_draws(logits, **kwargs), minlength=4) / 4000
        assert freq == pytest.approx(want, abs=0.025), kwargs
        assert freq[np.array(want) == 0].sum() == 0  # a token outside top-k / the nucleus is never drawn


def test_graph_sampler_never_draws_banned_and_tiny_temperature_is_argmax():
    draws = _draws([-np.inf, 0.0, -np.inf, 0.0, -np.inf], n=500)
    assert set(draws.tolist()) == {1, 3}
    draws = _draws([1.0, 1.0 + 1e-3, -50.0], n=200, temperature=1e-30)  # no NaN, no overflow: the argmax
    assert set(draws.tolist()) == {1}


def _build(arch: str, vocab: int):
    if arch == "lstm":
        return build_lstm(vocab, embedding_dim=4, layers=2, units=8)
    if arch == "mlp":
        return build_mlp(vocab, embedding_dim=4, context=3, hidden=[16])
    return build_gpt(vocab, block_size=48, n_layer=2, n_head=2, n_embd=8)


@pytest.fixture(scope="module", params=["lstm", "mlp", "gpt"])
def tiny_model(request):
    import keras

    keras.utils.set_random_seed(0)
    tok = CharTokenizer.fit("abcdefgh \n")
    model = _build(request.param, tok.vocab_size)
    model.get_layer("logits").bias.assign(np.linspace(0.0, 3.0, tok.vocab_size))  # a peaked distribution

    return model, tok


def test_stepper_matches_full_model(tiny_model):
    model, tok = tiny_model
    ids = tok.encode("abc defg")
    full = np.asarray(model(ids[None, :]))[0]
    stepper = make_stepper(model)
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


def test_incremental_equals_full_window_rerun(tiny_model):
    model, tok = tiny_model
    # 6 + 40 tokens fit the GPT's block of 48, and the window covers the LSTM's and MLP's whole context
    fast = generate(model, tok, "gfe dc", max_new_tokens=40, temperature=0)
    slow = generate_full_window(model, tok, ["gfe dc"], max_new_tokens=40, window=48, temperature=0)[0]
    assert fast == slow


def test_higher_temperature_gives_higher_sample_entropy(tiny_model):
    model, tok = tiny_model

    def entropy(texts):
        counts = np.unique(list("".join(texts)), return_counts=True)[1]
        p = counts / counts.sum()
        return float(-(p * np.log(p)).sum())

    cold, hot = (entropy(generate_batch(model, tok, ["ab"] * 8, max_new_tokens=50, temperature=t, seed=0))
                 for t in (0.3, 3.0))
    assert cold < hot


def test_stop_sequences(tiny_model):
    model, tok = tiny_model
    text = generate(model, tok, "ab", max_new_tokens=60, temperature=1.0, seed=5)
    stop = text[10:12]
    cut = generate(model, tok, "ab", max_new_tokens=60, temperature=1.0, seed=5, stop=[stop])
    assert cut == text[:text.index(stop)]
    with pytest.raises(GenForgeError, match="stop sequence"):
        generate(model, tok, "ab", max_new_tokens=5, stop=[""])


def test_batch_rows_equal_single_generation_with_shifted_seeds(tiny_model):
    model, tok = tiny_model
    prompts = ["ab", "c", "gfe dc"]  # different lengths: shorter rows wait, they never read padding
    steps: list[float] = []
    batch = generate_batch(model, tok, prompts, max_new_tokens=12, temperature=1.0, seed=7, step_seconds=steps,
                           chunk=5)
    single = [generate(model, tok, p, max_new_tokens=12, temperature=1.0, seed=7 + i) for i, p in enumerate(prompts)]
    assert batch == single
    assert len(steps) == 12 and all(s > 0 for s in steps)
    with pytest.raises(GenForgeError, match="prompts must not be empty"):
        generate_batch(model, tok, [], max_new_tokens=3)


def test_gpt_decodes_past_its_block_size():
    import keras

    keras.utils.set_random_seed(1)
    tok = CharTokenizer.fit("abcdefgh \n")
    model = build_gpt(tok.vocab_size, block_size=8, n_layer=1, n_head=2, n_embd=8)
    text = generate(model, tok, "abc", max_new_tokens=40, temperature=1.0, seed=0)  # the cache refills 5 times
    assert len(text) == 40 and set(text) <= set(tok.chars)


def test_gpt_decoding_in_runs_between_refills_equals_stepping_token_by_token():
    import keras

    keras.utils.set_random_seed(4)
    tok = CharTokenizer.fit("abcdefgh \n")
    model = build_gpt(tok.vocab_size, block_size=8, n_layer=2, n_head=2, n_embd=8)
    prompts = ["abc", "hgfedc"]  # the two rows' caches fill at different steps, so runs end at either row's refill
    texts = generate_batch(model, tok, prompts, max_new_tokens=20, temperature=0, chunk=7)  # chunks cross refills
    stepper = make_stepper(model)  # step(): a refill check at every token
    for prompt, text in zip(prompts, texts, strict=True):
        state = stepper.initial_state(1)
        for token in tok.encode_prompt(prompt):
            logits, state = stepper.step(np.array([token]), state)
        expected = []
        for _ in range(20):
            logits[0, list(tok.never_generate)] = -np.inf
            expected.append(int(np.argmax(logits[0])))
            logits, state = stepper.step(np.array([expected[-1]]), state)
        assert text == tok.decode(expected)


def test_generation_speed_figures(tiny_model):
    model, tok = tiny_model
    speed = generation_speed(model, tok, "ab", batch=3, tokens=6)
    assert speed["chars_per_second"] > 0
    assert 0 < speed["latency_ms_p50"] <= speed["latency_ms_p95"]


def test_gpt_prefill_equals_reading_token_by_token():
    import keras

    keras.utils.set_random_seed(2)
    tok = CharTokenizer.fit("abcdefgh \n")
    model = build_gpt(tok.vocab_size, block_size=24, n_layer=2, n_head=2, n_embd=8)
    stepper = make_stepper(model)
    rows = [tok.encode("abc defg"), tok.encode("hg")]  # lengths 8 and 2, padded to 16
    prompt = np.zeros((2, 16), np.int32)
    for row, ids in zip(prompt, rows, strict=True):
        row[:len(ids)] = ids
    logits, (keys, values, positions, history) = stepper.prefill(prompt, np.array([8, 2], np.int32))
    np.testing.assert_array_equal(positions, [8, 2])
    for b, ids in enumerate(rows):
        state = stepper.initial_state(1)
        for token in ids:
            step_logits, state = stepper.step(np.array([token]), state)
        np.testing.assert_allclose(np.asarray(logits)[b], step_logits[0], atol=1e-5)
        n = len(ids)
        for cached, stepped in zip(keys + values, state[0] + state[1], strict=True):
            np.testing.assert_allclose(np.asarray(cached)[b, :, :n], np.asarray(stepped)[0, :, :n], atol=1e-5)
        np.testing.assert_array_equal(np.asarray(history)[b, :n], ids)


def test_gpt_refill_equals_reading_the_kept_tokens_afresh():
    import keras

    keras.utils.set_random_seed(3)
    tok = CharTokenizer.fit("abcdefgh \n")
    model = build_gpt(tok.vocab_size, block_size=8, n_layer=2, n_head=2, n_embd=8)
    stepper = make_stepper(model)
    assert stepper.keep == 3  # 8 // 2 - 1
    ids = tok.encode("abc defgh")  # 9 tokens: the 9th finds the cache full
    state = stepper.initial_state(1)
    for token in ids:
        logits, state = stepper.step(np.array([token]), state)
    np.testing.assert_array_equal(state[2], [4])  # the 3 kept tokens at positions 0..2, the 9th at 3
    fresh = stepper.initial_state(1)
    for token in ids[5:]:  # the last 3 of the full cache, then the 9th, read from an empty cache
        expected, fresh = stepper.step(np.array([token]), fresh)
    np.testing.assert_allclose(logits, expected, atol=1e-5)


@pytest.mark.parametrize("arch", ["lstm", "mlp", "gpt"])
@pytest.mark.parametrize(("policy", "atol"), [("mixed_float16", 2e-3), ("mixed_bfloat16", 2e-2)])
def test_decoding_under_mixed_precision(arch, policy, atol):
    """The gpu profiles train in mixed precision and sample after each epoch."""
    import keras

    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(2)
        tok = CharTokenizer.fit("abcdefgh \n")
        model = (build_gpt(tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=8) if arch == "gpt"
                 else _build(arch, tok.vocab_size))
        ids = tok.encode("abc defg")
        full = np.asarray(model(ids[None, :]), dtype=np.float32)[0]
        stepper = make_stepper(model)
        state = stepper.initial_state(1)
        for t, token in enumerate(ids):
            logits, state = stepper.step(np.array([token]), state)
            np.testing.assert_allclose(np.asarray(logits, dtype=np.float32)[0], full[t], atol=atol)
        # a GPT reads a prompt that fits its block in one pass (prefill), a longer one token by token; both refill
        for prompt in ("abc", "abcdefgh abcdefgh"):
            (text,) = generate_batch(model, tok, [prompt], max_new_tokens=24, temperature=1.0)
            assert len(text) == 24 and set(text) <= set(tok.chars)
    finally:
        keras.mixed_precision.set_global_policy("float32")
