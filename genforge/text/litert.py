"""LiteRT (TensorFlow Lite) export of an LSTM generator as a batch-1 step model, and running it.

The exported model is one decoding step: ``token int32 (1,)`` and ``state float32 (L, 2, 1, U)`` (each LSTM layer's
``h`` and ``c``) to ``logits float32 (1, V)`` and the new state. A fixed batch of 1 is what converts cleanly: a Keras 3
LSTM with a dynamic batch does not (``tf.TensorListReserve ... element_shape to be static``). The step is
:class:`genforge.text.sampling.LSTMStepper`'s, so the LiteRT model computes what the Keras model computes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.core.litert import check_kind, convert


def export_step_model(model, kind: str) -> bytes:
    """Convert ``model`` (:func:`genforge.text.models.build_lstm`) to a LiteRT flatbuffer of one decoding step.

    Args:
        model: a Keras LSTM generator whose layers all have the same ``units``.
        kind: ``"float32"``; ``"float16"`` (weights stored as float16: LiteRT's post-training float16
            quantization); ``"int8"`` (dynamic-range quantization: weights int8 per channel, activations
            quantized on the fly; LiteRT documentation, *Post-training quantization*).

    Returns:
        The ``.tflite`` file's bytes.

    Raises:
        GenForgeError: an unknown ``kind``, or layers of different widths.
    """
    import tensorflow as tf

    from genforge.text.sampling import LSTMStepper

    check_kind(kind)
    stepper = LSTMStepper(model)
    widths = {layer.units for layer in stepper.lstms}
    if len(widths) != 1:
        raise GenForgeError(f"LiteRT export needs LSTM layers of one width (got {sorted(widths)})")
    layers, units = len(stepper.lstms), widths.pop()

    @tf.function(input_signature=[tf.TensorSpec([1], tf.int32, name="token"),
                                  tf.TensorSpec([layers, 2, 1, units], tf.float32, name="state")])
    def step(token, state):
        logits, states = stepper.step_tensors(token, [(state[i, 0], state[i, 1]) for i in range(layers)])
        return logits, tf.stack([tf.stack([h, c]) for h, c in states])

    return convert(step.get_concrete_function(), model.weights, kind)


class LiteRTStepper:
    """Runs a model written by :func:`export_step_model` with the ``ai_edge_litert`` interpreter, one token at a time.

    Same interface as :class:`genforge.text.sampling.LSTMStepper` (batch 1 only), plus ``predict_on_batch`` so that
    :func:`genforge.text.evaluation.score` can score it like a Keras model.

    Args:
        model: path of a ``.tflite`` file, or its bytes.
        num_threads: interpreter threads (1: the batch-1 latency of one core).

    Raises:
        GenForgeError: the file is missing or is not a step model.
    """

    def __init__(self, model: str | Path | bytes, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        try:
            content = model if isinstance(model, bytes) else Path(model).read_bytes()
            self._interpreter = Interpreter(model_content=content, num_threads=num_threads)
        except (OSError, ValueError, RuntimeError) as e:
            raise GenForgeError(f"{model if not isinstance(model, bytes) else 'LiteRT model'}: cannot load ({e}); "
                                "re-run the optimize stage") from e
        self._interpreter.allocate_tensors()
        inputs = {len(d["shape"]): d for d in self._interpreter.get_input_details()}
        outputs = {len(d["shape"]): d for d in self._interpreter.get_output_details()}
        if set(inputs) != {1, 4} or set(outputs) != {2, 4}:
            raise GenForgeError("not a GenForge LiteRT step model (token (1,), state (L, 2, 1, U) -> logits, state)")
        self._token, self._state = inputs[1]["index"], inputs[4]["index"]
        self._logits, self._new_state = outputs[2]["index"], outputs[4]["index"]
        self.state_shape = tuple(int(n) for n in inputs[4]["shape"])

    def initial_state(self, batch: int = 1) -> np.ndarray:
        """Zero state, ``float32 (L, 2, 1, U)``; ``batch`` must be 1."""
        if batch != 1:
            raise GenForgeError(f"a LiteRT step model decodes batch 1 only (got {batch})")
        return np.zeros(self.state_shape, np.float32)

    def step(self, tokens: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feed ``tokens`` (``int32 (1,)``); return logits ``float32 (1, V)`` and the new state."""
        it = self._interpreter
        it.set_tensor(self._token, np.asarray(tokens, dtype=np.int32).reshape(1))
        it.set_tensor(self._state, state)
        it.invoke()
        return it.get_tensor(self._logits), it.get_tensor(self._new_state)

    def predict_on_batch(self, x: np.ndarray) -> np.ndarray:
        """Logits ``float32 (B, T, V)`` of each row of ``x`` (``int32 (B, T)``), every row from a zero state, decoded
        token by token: what a full-window Keras model gives."""
        rows = []
        for row in np.asarray(x, dtype=np.int32):
            state, logits = self.initial_state(), []
            for token in row:
                out, state = self.step(token, state)
                logits.append(out[0])
            rows.append(np.stack(logits))
        return np.stack(rows)
