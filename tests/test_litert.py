"""LiteRT export: the batch-1 step model computes the Keras model's logits; bad input is refused."""

import numpy as np
import pytest

from genforge import GenForgeError
from genforge.text.evaluation import score
from genforge.text.litert import LiteRTStepper, export_step_model
from genforge.text.models import build_lstm


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(3)
    return build_lstm(11, embedding_dim=6, layers=2, units=12)


# stated tolerances (max absolute logit difference): float32 is the same arithmetic; float16 rounds weights to
# 11 significant bits; dynamic-range int8 rounds weights to 1/127 of each channel's range and activations per batch
@pytest.mark.parametrize(("kind", "atol"), [("float32", 1e-5), ("float16", 5e-3), ("int8", 5e-2)])
def test_litert_logits_match_keras(model, kind, atol, tmp_path):
    x = np.random.default_rng(0).integers(0, 11, (3, 20)).astype(np.int32)
    path = tmp_path / f"m_{kind}.tflite"
    path.write_bytes(export_step_model(model, kind))
    stepper = LiteRTStepper(path)
    got, want = stepper.predict_on_batch(x), np.asarray(model.predict_on_batch(x))
    assert got.shape == want.shape == (3, 20, 11)
    assert np.abs(got - want).max() < atol
    # scored by the evaluate stage's code, the LiteRT model and the Keras model agree
    tokens = np.random.default_rng(1).integers(0, 11, 200)
    assert score(stepper, tokens, context=16, unit="character")["cross_entropy"] == pytest.approx(
        score(model, tokens, context=16, unit="character")["cross_entropy"], abs=10 * atol)


def test_int8_and_float16_files_are_smaller():
    """On a model whose weight matrices are large enough to quantize (the converter leaves tensors of fewer than
    1,024 elements as float32), float16 roughly halves the file and int8 roughly quarters it."""
    wide = build_lstm(11, embedding_dim=32, layers=1, units=64)  # 24,576 + 8,192 + 704 kernel weights
    sizes = {kind: len(export_step_model(wide, kind)) for kind in ("float32", "float16", "int8")}
    assert sizes["int8"] < 0.4 * sizes["float32"] and sizes["float16"] < 0.6 * sizes["float32"]


def test_bad_input_is_refused(model, tmp_path):
    with pytest.raises(GenForgeError, match="LiteRT kind must be one of float32, float16, int8"):
        export_step_model(model, "int4")
    with pytest.raises(GenForgeError, match=r"nope\.tflite: cannot load"):
        LiteRTStepper(tmp_path / "nope.tflite")
    (tmp_path / "junk.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(GenForgeError, match="junk.tflite: cannot load"):
        LiteRTStepper(tmp_path / "junk.tflite")
    stepper = LiteRTStepper(export_step_model(model, "float32"))
    assert stepper.initial_state().shape == (2, 2, 1, 12)
    with pytest.raises(GenForgeError, match="batch 1 only"):
        stepper.initial_state(2)
