"""LiteRT (TensorFlow Lite) export of a functional Keras network (an image generator, an image-to-image
translator), and running it as a callable in the Keras network's place (:func:`genforge.image.sampling.generate`,
:func:`genforge.image2image.training.translate`).

The exported model takes the network's inputs with a free batch dimension (resized per call). ``float16`` stores the
weights as float16 (post-training float16 quantization); ``int8`` quantizes the weights to int8 per channel and the
activations on the fly (dynamic-range quantization); LiteRT documentation, *Post-training quantization*.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genforge import GenForgeError

KINDS = ("float32", "float16", "int8")


def check_kind(kind: str) -> None:
    """Raises:
        GenForgeError: ``kind`` is not one of :data:`KINDS`."""
    if kind not in KINDS:
        raise GenForgeError(f"LiteRT kind must be one of {', '.join(KINDS)} (got {kind!r})")


def convert(function, weights: list, kind: str) -> bytes:
    """The ``.tflite`` bytes of ``function`` (a concrete ``tf.function``) that reads the Keras variables ``weights``,
    frozen into constants, as ``kind``: ``float32``; ``float16`` (weights stored as float16: post-training float16
    quantization); ``int8`` (dynamic-range quantization: weights int8 per channel, activations quantized on the
    fly); LiteRT documentation, *Post-training quantization*.

    Raises:
        GenForgeError: an unknown ``kind``.
    """
    import tensorflow as tf

    check_kind(kind)
    holder = tf.Module()  # tracks the variables behind the Keras weights, which the converter freezes into constants
    holder.variables_ = [w.value for w in weights]
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], holder)
    if kind != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if kind == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def export(network, kind: str) -> bytes:
    """The ``.tflite`` bytes of ``network`` (a functional ``keras.Model``) as ``kind`` (:func:`convert`), its inputs
    ``float32`` with a free batch dimension.

    Raises:
        GenForgeError: an unknown ``kind``.
    """
    import tensorflow as tf

    check_kind(kind)
    specs = [tf.TensorSpec([None, *t.shape[1:]], tf.float32) for t in network.inputs]
    function = tf.function(lambda *xs: network(list(xs) if len(xs) > 1 else xs[0], training=False))
    return convert(function.get_concrete_function(*specs), network.weights, kind)


class LiteRTNetwork:
    """A ``.tflite`` generator network as a callable: ``net(x)`` or ``net([x, embedding])`` -> ``float32`` outputs,
    any batch size.

    Raises:
        GenForgeError: the file is missing or not a LiteRT model (named); a call gets a wrong number of inputs or an
            input whose shape past the batch differs from the model's (both shapes named).
    """

    def __init__(self, model: str | Path, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        try:
            self._it = Interpreter(model_path=str(model), num_threads=num_threads)
        except (OSError, ValueError, RuntimeError) as e:
            raise GenForgeError(f"{model}: cannot load as a LiteRT model ({e}); re-run the optimize stage") from e
        # inputs in the order of their shapes' ranks (x before the step embedding), as the Keras network lists them
        self._inputs = sorted(self._it.get_input_details(), key=lambda d: -len(d["shape"]))
        self._output = self._it.get_output_details()[0]["index"]
        self._shapes = None  # the input shapes the interpreter's tensors are allocated for

    def __call__(self, inputs) -> np.ndarray:
        arrays = [np.asarray(x, np.float32) for x in (inputs if isinstance(inputs, list | tuple) else [inputs])]
        if len(arrays) != len(self._inputs):
            raise GenForgeError(f"the LiteRT network takes {len(self._inputs)} inputs, got {len(arrays)}")
        ordered = sorted(arrays, key=lambda a: -a.ndim)
        for d, a in zip(self._inputs, ordered, strict=True):
            want = [int(n) for n in d["shape_signature"][1:]]  # -1: any size
            if len(want) != a.ndim - 1 or any(w not in (-1, n) for w, n in zip(want, a.shape[1:], strict=False)):
                raise GenForgeError(f"the LiteRT network takes inputs of shape (batch, "
                                    f"{', '.join(map(str, want))}), got {a.shape}")
        shapes = [a.shape for a in ordered]
        if self._shapes != shapes:
            for d, a in zip(self._inputs, ordered, strict=True):
                self._it.resize_tensor_input(d["index"], a.shape)
            self._it.allocate_tensors()
            self._shapes = shapes
        for d, a in zip(self._inputs, ordered, strict=True):
            self._it.set_tensor(d["index"], a)
        self._it.invoke()
        return self._it.get_tensor(self._output)
