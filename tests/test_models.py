import numpy as np
import pytest

from genforge import GenForgeError
from genforge.models import build_lstm, dequantize_int8, load_generator, quantize_int8, save_generator
from genforge.tokenizers import CharTokenizer


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
        save_generator(folder, model, tok, int8=int8)
        assert (folder / name).exists() and (folder / "tokenizer.json").exists()
        back, back_tok = load_generator(folder)
        assert back_tok.chars == tok.chars
        # int8 error per logit is bounded by the quantization step of the weights
        np.testing.assert_allclose(np.asarray(back(x)), logits, atol=0.02 if int8 else 1e-6)


def test_load_generator_errors(tmp_path):
    CharTokenizer.fit("ab").save(tmp_path / "tokenizer.json")
    with pytest.raises(GenForgeError, match="no model.keras or model.int8.npz"):
        load_generator(tmp_path)
