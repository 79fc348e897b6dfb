"""Weight-only int8 quantization of a generator: every convolution kernel stored as int8 with one float32 scale per
output channel (symmetric, round to nearest: the scheme of TensorFlow Lite's dynamic-range quantization, Jacob et
al. 2018), every other weight (batch normalisation, biases) kept in float32, in one ``.npz`` file. For inference the
kernels are dequantized (``int8 x scale``) into a float32 copy of the network: the file shrinks about 4x, the
arithmetic and its speed stay those of float32."""

from __future__ import annotations

from pathlib import Path

import numpy as np

QMAX = 127  # symmetric int8: -127 .. 127


def _channel_axis(layer) -> int | None:
    """The output-channel axis of a convolution's kernel (Conv2D: HWIO, the last; Conv2DTranspose: HWOI, the
    third), or ``None`` for a layer without one."""
    kind = type(layer).__name__
    return {"Conv2D": 3, "Conv2DTranspose": 2}.get(kind)


def quantize_kernel(kernel: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """``(int8 kernel, float32 scales)``: ``scale = max |w| / 127`` per index of ``axis`` (1 where a channel is all
    zeros), ``q = round(w / scale)``.

    >>> q, s = quantize_kernel(np.array([[0.5, -1.0], [0.25, 2.0]], np.float32), axis=1)
    >>> q.tolist(), [round(float(v), 5) for v in s]  # 63.5 and -63.5 round to the even 64 and -64
    ([[127, -64], [64, 127]], [0.00394, 0.01575])
    """
    others = tuple(i for i in range(kernel.ndim) if i != axis)
    peak = np.abs(kernel).max(axis=others, keepdims=True)
    scale = np.where(peak > 0, peak / QMAX, 1.0).astype(np.float32)
    q = np.clip(np.rint(kernel / scale), -QMAX, QMAX).astype(np.int8)
    return q, scale.reshape(-1)


def save_int8(generator, path: Path) -> None:
    """Write ``generator``'s weights to ``path`` (``.npz``): per convolution ``<i>.q`` (int8) and ``<i>.scale``,
    every other weight ``<i>`` as float32, ``i`` being its index in ``generator.weights``."""
    arrays = {}
    for i, (layer, weight) in enumerate(_weights(generator)):
        value = np.asarray(weight.numpy())
        axis = _channel_axis(layer)
        if axis is not None and weight.path.endswith("kernel"):
            arrays[f"{i}.q"], arrays[f"{i}.scale"] = quantize_kernel(value, axis)
        else:
            arrays[str(i)] = value.astype(np.float32)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load_int8(generator, path: Path):
    """A float32 copy of ``generator`` with the weights of ``path`` (:func:`save_int8`), kernels dequantized."""
    import keras

    copy = keras.models.clone_model(generator)
    stored = np.load(path)
    values = []
    for i, (layer, weight) in enumerate(_weights(copy)):
        if f"{i}.q" in stored:
            shape = [1] * weight.ndim
            shape[_channel_axis(layer)] = -1
            values.append(stored[f"{i}.q"].astype(np.float32) * stored[f"{i}.scale"].reshape(shape))
        else:
            values.append(stored[str(i)])
    for (_, weight), value in zip(_weights(copy), values, strict=True):
        weight.assign(value)
    return copy


def _weights(model) -> list:
    """``(layer, variable)`` for every weight of ``model``, in a fixed order (layer by layer)."""
    return [(layer, w) for layer in model.layers for w in layer.weights]
