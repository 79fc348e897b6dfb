import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from genforge import GenForgeError
from genforge.text.models import (
    build_gpt,
    build_lstm,
    build_mlp,
    compile_generator,
    dequantize_int8,
    load_generator,
    quantize_int8,
    save_generator,
)
from genforge.text.tokenizers import CharTokenizer


def test_quantize_int8_hand_values():
    w = np.array([[1.0, -2.0], [0.5, 1.0]], dtype=np.float32)
    q, scale = quantize_int8(w)
    assert scale == pytest.approx([1 / 127, 2 / 127])
    # 0.5 / (1/127) = 63.5 and 1 / (2/127) = 63.5 round half to even: 64
    assert q.tolist() == [[127, -127], [64, 64]] and q.dtype == np.int8
    back = dequantize_int8(q, scale)
    assert np.abs(back - w).max() <= scale.max() / 2 + 1e-7


def test_quantize_zero_channel():
    q, scale = quantize_int8(np.zeros((3, 2)))
    assert (q == 0).all() and (scale == 1).all()


@pytest.mark.parametrize("embedding_dim", [0, 4])
def test_build_shapes_and_int8_round_trip(tmp_path, embedding_dim):
    tok = CharTokenizer.fit("abcdefgh")
    model = build_lstm(tok.vocab_size, embedding_dim=embedding_dim, layers=2, units=16)
    x = np.array([[1, 2, 3, 4, 5]], dtype=np.int32)
    logits = np.asarray(model(x))
    assert logits.shape == (1, 5, tok.vocab_size)
    for int8, name in ((False, "model.keras"), (True, "model.int8.npz")):
        folder = tmp_path / name
        folder.mkdir()
        save_generator(folder, model, tok, method="int8" if int8 else "none")
        assert (folder / name).exists() and (folder / "tokenizer.json").exists()
        back, back_tok = load_generator(folder)
        assert back_tok.chars == tok.chars
        # int8 error per logit is bounded by the quantization step of the weights
        np.testing.assert_allclose(np.asarray(back(x)), logits, atol=0.02 if int8 else 1e-6)


def test_load_generator_errors(tmp_path):
    CharTokenizer.fit("ab").save(tmp_path / "tokenizer.json")
    with pytest.raises(GenForgeError, match="no model.keras or model.int8.npz"):
        load_generator(tmp_path)


def test_weight_decay_shrinks_kernels_and_embeddings_but_not_biases():
    """AdamW with a zero gradient: Adam's step is 0, so each decayed weight becomes w * (1 - lr * wd) exactly."""
    import keras

    from genforge.text.models import compile_generator

    model = build_lstm(5, embedding_dim=3, layers=1, units=4)
    compile_generator(model, learning_rate=0.1, weight_decay=0.5)
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    model.optimizer.apply([keras.ops.zeros_like(v) for v in model.trainable_variables], model.trainable_variables)
    for v in model.trainable_variables:
        factor = 1.0 if v.path.endswith("bias") else 1 - 0.1 * 0.5
        np.testing.assert_allclose(v.numpy(), before[v.path] * factor, rtol=1e-6, err_msg=v.path)


def test_beta_2_is_adams_second_moment_decay():
    """Adam (Kingma & Ba, 2015, Algorithm 1) with gradients 1 then 2 on every weight, lr 0.1, beta_1 0.9: step 1 moves
    each weight by -0.1 whatever beta_2 is; step 2 by -0.1 * m2 / sqrt(v2) with the bias-corrected moments
    m2 = (0.9 * 0.1 + 0.1 * 2) / (1 - 0.81) = 1.526316 and v2 = (beta_2 + 4) / (1 + beta_2): for beta_2 = 0.5,
    v2 = 3 and the step is -0.0881218; for Keras's default 0.999, v2 = 2.500750 and the step is -0.0965180."""
    import keras

    from genforge.text.models import compile_generator

    for beta_2, second in ((0.5, -0.0881218), (0.999, -0.0965180)):
        model = build_lstm(5, embedding_dim=3, layers=1, units=4)
        compile_generator(model, learning_rate=0.1, beta_2=beta_2)
        weights = model.trainable_variables
        before = [v.numpy().copy() for v in weights]
        for g in (1.0, 2.0):
            model.optimizer.apply([keras.ops.full_like(v, g) for v in weights], weights)
        for v, b in zip(weights, before, strict=True):
            np.testing.assert_allclose(v.numpy() - b, -0.1 + second, rtol=1e-5, atol=1e-6, err_msg=v.path)


def test_activation_penalty_is_the_mean_square_of_the_lstm_outputs(tmp_path):
    import keras

    model = build_lstm(5, embedding_dim=3, layers=1, units=4, activation_penalty=0.25)
    x = np.array([[1, 2, 3, 4]], dtype=np.int32)
    h = np.asarray(keras.Model(model.input, model.get_layer("lstm_0").output)(x))
    model(x, training=True)
    assert len(model.losses) == 1
    assert float(model.losses[0]) == pytest.approx(0.25 * np.mean(h**2), rel=1e-5)
    save_generator(tmp_path, model, CharTokenizer.fit("abcd"))  # saved and loaded with its penalty
    back, _ = load_generator(tmp_path)
    assert back.get_layer("lstm_0").activity_regularizer.get_config() == {"coefficient": 0.25}


def test_dropout_is_active_in_training_only():
    model = build_lstm(5, embedding_dim=3, layers=1, units=8, dropout=0.5, recurrent_dropout=0.5)
    x = np.array([[1, 2, 3, 4, 0, 1]], dtype=np.int32)
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(model(x)))  # inference: no dropout
    assert not np.allclose(np.asarray(model(x, training=True)), np.asarray(model(x)))


def test_keras_int8_quantizes_dense_and_embedding_layers(tmp_path):
    tok = CharTokenizer.fit("abcdefgh")
    model = build_lstm(tok.vocab_size, embedding_dim=8, layers=1, units=16)
    x = np.array([[1, 2, 3, 4, 5]], dtype=np.int32)
    save_generator(tmp_path, model, tok, method="keras_int8")
    back, _ = load_generator(tmp_path)
    assert back.get_layer("logits").quantization_mode == "int8"
    assert back.get_layer("logits")._kernel.dtype == "int8"
    assert model.get_layer("logits").quantization_mode is None  # the caller's model is left float32
    np.testing.assert_allclose(np.asarray(back(x)), np.asarray(model(x)), atol=0.02)
    with pytest.raises(GenForgeError, match="method must be one of none, int8, keras_int8"):
        save_generator(tmp_path, model, tok, method="int4")


def test_gelu_is_x_times_the_normal_cdf():
    from genforge.text.layers import gelu

    # x Φ(x) with Φ from a normal table: Φ(1) = 0.8413447, Φ(2) = 0.9772499, Φ(-3) = 0.0013499
    x = np.array([0.0, 1.0, -1.0, 2.0, -3.0], dtype=np.float32)
    expected = [0.0, 0.8413447, -(1 - 0.8413447), 2 * 0.9772499, -3 * 0.0013499]
    assert np.asarray(gelu(x)) == pytest.approx(expected, abs=2e-6)


# Run under KERAS_BACKEND=jax: each model folder written under TensorFlow loads, gives the logits TensorFlow computed,
# and trains (Adam, full batch, 5 steps) with a falling loss.
_ON_JAX = """
import sys
import numpy as np, keras
from genforge.text.models import compile_generator, load_generator
assert keras.backend.backend() == "jax", keras.backend.backend()
for folder in sys.argv[1:]:
    model, _ = load_generator(folder)
    with np.load(folder + "/expected.npz") as z:
        x, expected = z["x"], z["logits"]
    np.testing.assert_allclose(np.asarray(model(x)), expected, atol=1e-5, err_msg=folder)
    compile_generator(model, learning_rate=0.01, jit_compile=True)
    loss = model.fit(x[:, :-1], x[:, 1:], batch_size=len(x), epochs=5, verbose=0).history["loss"]
    assert loss[-1] < loss[0], (folder, loss)
    print(folder, "ok", [round(v, 4) for v in loss])
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed (pip install -e '.[dev]')")
def test_models_saved_under_tensorflow_run_on_the_jax_backend(tmp_path):
    """A GPU machine may have JAX and no TensorFlow: each arch's model folder, written here, must load there."""
    tok = CharTokenizer.fit("abcdefgh")
    v = tok.vocab_size
    x = np.random.default_rng(0).integers(1, v, size=(4, 10)).astype(np.int32)
    folders = []
    for name, model in [("mlp", build_mlp(v, embedding_dim=4, context=3, hidden=[8])),
                        ("lstm", build_lstm(v, embedding_dim=4, layers=1, units=8)),
                        ("gpt", build_gpt(v, block_size=16, n_layer=1, n_head=2, n_embd=8))]:
        compile_generator(model, learning_rate=0.01)  # as the train stage leaves it: save_generator drops the optimizer
        folder = tmp_path / name
        folder.mkdir()
        save_generator(folder, model, tok)
        np.savez(folder / "expected.npz", x=x, logits=np.asarray(model(x)))
        folders.append(str(folder))
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", _ON_JAX, *folders], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count(" ok ") == 3, proc.stdout
