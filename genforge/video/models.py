"""Next-frame predictors on frames cut into patches, and their closed-loop generation.

Frames are ``float32 (..., H, W, C)`` in [0, 1]; each model works on ``patch`` x ``patch`` pixel patches stacked on
the channels (``(H / patch, W / patch, patch * patch * C)``, the reshaping PredRNN applies to Moving MNIST, Wang et
al. 2017) and outputs logits of the next frame's pixels (Bernoulli, trained by binary cross-entropy as Srivastava
et al. 2015 trained on Moving MNIST, plus an SSIM term: :func:`genforge.video.training.frame_loss`).

- ``convlstm``: stacked ConvLSTM layers (Shi et al. 2015, "Convolutional LSTM Network"; keras-io's conv_lstm
  example) reading one frame per step;
- ``window``: a convolutional network that reads the last ``context`` frames stacked on the channels and predicts
  the next one, with residual 3x3 blocks (the convolutional encoder-translator-decoder of SimVP, Gao et al. 2022,
  predicting one frame at a time).

Both are trained unrolled over the frames to generate, each predicted frame (its pixel probabilities) fed back as
the next input: the loss is that of the closed loop :func:`generate` runs, not of one step from true frames (trained
one step from true frames, the window model's errors compounded: its SSIM fell below copy-last-frame's from the
fourth generated frame on, here).
"""

from __future__ import annotations

import functools
import weakref

import numpy as np

from genforge import GenForgeError

_steps: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # ConvLSTM model -> its step_model


@functools.cache
def _layers():
    """The patch layers, defined (and registered with Keras) on first use, so that importing this module imports no
    Keras."""
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="genforge.video")
    class Patchify(keras.layers.Layer):
        """``(..., H, W, C)`` -> ``(..., H/p, W/p, p*p*C)``: each ``p`` x ``p`` patch on the channels."""

        def __init__(self, patch: int, **kwargs):
            super().__init__(**kwargs)
            self.patch = patch

        def call(self, x):
            *lead, h, w, c = x.shape
            p = self.patch
            lead = list(ops.shape(x)[:-3])
            y = ops.reshape(x, (-1, h // p, p, w // p, p, c))
            y = ops.transpose(y, (0, 1, 3, 2, 4, 5))
            return ops.reshape(y, (*lead, h // p, w // p, p * p * c))

        def get_config(self):
            return {**super().get_config(), "patch": self.patch}

    @keras.saving.register_keras_serializable(package="genforge.video")
    class Unpatchify(keras.layers.Layer):
        """The inverse of :class:`Patchify`: ``(..., h, w, p*p*C)`` -> ``(..., h*p, w*p, C)``."""

        def __init__(self, patch: int, **kwargs):
            super().__init__(**kwargs)
            self.patch = patch

        def call(self, x):
            *_, h, w, d = x.shape
            p = self.patch
            c = d // (p * p)
            lead = list(ops.shape(x)[:-3])
            y = ops.reshape(x, (-1, h, w, p, p, c))
            y = ops.transpose(y, (0, 1, 3, 2, 4, 5))
            return ops.reshape(y, (*lead, h * p, w * p, c))

        def get_config(self):
            return {**super().get_config(), "patch": self.patch}

    return Patchify, Unpatchify


def custom_objects() -> dict:
    """The layers a saved predictor needs, by name, for ``keras.saving.load_model``."""
    return {cls.__name__: cls for cls in _layers()}


def check_frame_shape(frame_shape: tuple[int, int, int], patch: int) -> None:
    """Raise :class:`GenForgeError` unless ``patch`` divides the frame's height and width."""
    h, w, _ = frame_shape
    if h % patch or w % patch:
        raise GenForgeError(f"train.patch ({patch}) must divide the frame size {h}x{w}; choose a divisor such as 4")


def _frame_ops():
    """Functional-graph pieces on clips ``(B, T, ...)`` of static length: the last step without its time axis, a
    frame as a one-step clip, the clip without its first step, clips joined in time."""
    from keras import layers

    def last(x):
        return layers.Reshape(x.shape[2:])(layers.Cropping3D(((x.shape[1] - 1, 0), (0, 0), (0, 0)))(x))

    def as_clip(frame):
        return layers.Reshape((1, *frame.shape[1:]))(frame)

    def drop_first(x):
        return layers.Cropping3D(((1, 0), (0, 0), (0, 0)))(x)

    def join(clips):
        return clips[0] if len(clips) == 1 else layers.Concatenate(axis=1)(clips)

    return last, as_clip, drop_first, join


def build_convlstm(frame_shape: tuple[int, int, int], *, context: int, horizon: int, patch: int, filters: list[int],
                   kernel: int, seed: int):
    """The ConvLSTM predictor unrolled for training: ``context`` frames ``float32 (B, context, H, W, C)`` -> the
    logits of the next ``horizon`` frames ``(B, horizon, H, W, C)``, each predicted frame (its pixel probabilities)
    fed back as the next input, so that training optimizes the closed loop that generation runs. The ConvLSTM
    layers are named ``convlstm_<i>`` (:func:`step_model` runs them one frame at a time)."""
    import keras
    from keras import layers

    check_frame_shape(frame_shape, patch)
    keras.utils.set_random_seed(seed)
    patchify, unpatchify = _layers()
    last, as_clip, _, join = _frame_ops()
    cells = [layers.ConvLSTM2D(width, kernel, padding="same", return_sequences=True, return_state=True,
                               name=f"convlstm_{i}") for i, width in enumerate(filters)]
    to_patches, readout = patchify(patch, name="patchify"), layers.Conv2D(patch * patch * frame_shape[2], 1,
                                                                          name="readout")
    from_patches, sigmoid = unpatchify(patch, name="unpatchify"), layers.Activation("sigmoid")
    x = inputs = keras.Input((context, *frame_shape), name="frames")
    states: list = [None] * len(cells)
    outputs = []
    for _ in range(horizon):
        y = to_patches(x)
        for i, cell in enumerate(cells):
            y, h, c = cell(y) if states[i] is None else cell(y, initial_state=states[i])
            states[i] = [h, c]
        logits = from_patches(readout(last(y)))
        outputs.append(as_clip(logits))
        x = as_clip(sigmoid(logits))
    return keras.Model(inputs, join(outputs), name="convlstm")


def build_window(frame_shape: tuple[int, int, int], *, context: int, horizon: int, patch: int, filters: list[int],
                 kernel: int, seed: int):
    """The window predictor unrolled for training: ``context`` frames ``float32 (B, context, H, W, C)`` -> the
    logits of the next ``horizon`` frames ``(B, horizon, H, W, C)``. Its one-step network (the layer ``step``: the
    last ``context`` frames -> the next frame's logits ``(B, H, W, C)``) puts the patches of every frame on the
    channels, then a 3x3 convolution to ``filters[0]``, one residual block (two convolutions, ReLU) per width and
    a 1x1 readout; each predicted frame (its pixel probabilities) is fed back into the window."""
    import keras
    from keras import layers

    check_frame_shape(frame_shape, patch)
    keras.utils.set_random_seed(seed)
    patchify, unpatchify = _layers()
    h, w, c = frame_shape
    inputs = keras.Input((context, *frame_shape), name="frames")
    x = patchify(patch, name="patchify")(inputs)  # (B, K, h, w, p*p*C)
    x = layers.Permute((2, 3, 1, 4))(x)
    x = layers.Reshape((h // patch, w // patch, context * patch * patch * c))(x)
    x = layers.Conv2D(filters[0], kernel, padding="same", activation="relu")(x)
    for width in filters:
        if x.shape[-1] != width:
            x = layers.Conv2D(width, 1)(x)
        y = layers.Conv2D(width, kernel, padding="same", activation="relu")(x)
        y = layers.Conv2D(width, kernel, padding="same")(y)
        x = layers.ReLU()(layers.Add()([x, y]))
    x = layers.Conv2D(patch * patch * c, 1, name="readout")(x)
    step = keras.Model(inputs, unpatchify(patch, name="unpatchify")(x), name="step")
    _, as_clip, drop_first, join = _frame_ops()
    sigmoid = layers.Activation("sigmoid")
    window = clip = keras.Input((context, *frame_shape), name="frames")
    outputs = []
    for _ in range(horizon):
        logits = step(window)
        outputs.append(as_clip(logits))
        window = layers.Concatenate(axis=1)([drop_first(window), as_clip(sigmoid(logits))])
    return keras.Model(clip, join(outputs), name="window")


def step_model(model):
    """The ConvLSTM predictor as one step of a loop: ``[frame (B, 1, H, W, C), h_0, c_0, h_1, c_1, ...]`` ->
    ``[logits of the next frame (B, H, W, C), h_0', c_0', ...]``, sharing ``model``'s layers (and weights)."""
    import keras
    from keras import layers

    frame = keras.Input((1, *model.input.shape[2:]), name="frame")
    x = model.get_layer("patchify")(frame)
    states, outputs = [], []
    i = 0
    while any(layer.name == f"convlstm_{i}" for layer in model.layers):
        layer = model.get_layer(f"convlstm_{i}")
        shape = (*x.shape[2:4], layer.filters)
        h, c = keras.Input(shape, name=f"h_{i}"), keras.Input(shape, name=f"c_{i}")
        x, h2, c2 = layer(x, initial_state=[h, c])
        states += [h, c]
        outputs += [h2, c2]
        i += 1
    x = model.get_layer("unpatchify")(model.get_layer("readout")(layers.Reshape(x.shape[2:])(x)))
    return keras.Model([frame, *states], [x, *outputs])


def _sigmoid(x) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))).astype(np.float32)


def generate(model, spec: dict, context: np.ndarray, frames: int, batch_size: int = 64) -> np.ndarray:
    """Closed-loop generation: the ``frames`` frames ``float32 (B, frames, H, W, C)`` (pixel probabilities in
    [0, 1]) that follow ``context`` ``float32 (B, K, H, W, C)`` in [0, 1], each generated frame fed back as the
    unrolled training model does (``model``: :func:`build_window` or :func:`build_convlstm`; any number of frames,
    not only the horizon it was trained for). The window model reads the last ``spec["context"]`` frames; the
    ConvLSTM reads every frame of ``context``. Sequences are generated ``batch_size`` at a time.

    Raises:
        GenForgeError: ``context`` is not 5-D, has another frame size than the model, or fewer frames than
            ``spec["context"]``.
    """
    context = np.asarray(context, np.float32)
    expected = tuple(spec["frame_shape"])
    if context.ndim != 5 or context.shape[2:] != expected:
        raise GenForgeError(f"expected context frames (sequences, frames, {', '.join(map(str, expected))}), got "
                            f"shape {context.shape}")
    if context.shape[1] < spec["context"]:
        raise GenForgeError(f"the clip has {context.shape[1]} frames; this model needs {spec['context']} frames of "
                            "context")
    run = _window_loop if spec["arch"] == "window" else _convlstm_loop
    parts = [run(model, spec, context[i:i + batch_size], frames) for i in range(0, len(context), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, frames, *expected), np.float32)


def _window_loop(model, spec: dict, context: np.ndarray, frames: int) -> np.ndarray:
    step = model.get_layer("step")
    window = context[:, -spec["context"]:]
    out = []
    for _ in range(frames):
        frame = _sigmoid(step(window, training=False))
        out.append(frame)
        window = np.concatenate([window[:, 1:], frame[:, None]], axis=1)
    return np.stack(out, axis=1) if out else np.zeros((len(context), 0, *context.shape[2:]), np.float32)


def _convlstm_loop(model, spec: dict, context: np.ndarray, frames: int) -> np.ndarray:
    step = _steps.get(model)
    if step is None:
        step = _steps[model] = step_model(model)
    states = [np.zeros((len(context), *s.shape[1:]), np.float32) for s in step.inputs[1:]]
    out = []
    for t in range(context.shape[1] + frames - 1):
        x = context[:, t:t + 1] if t < context.shape[1] else out[-1][:, None]
        logits, *states = step([x, *states], training=False)
        states = [np.asarray(s) for s in states]
        if t >= context.shape[1] - 1:
            out.append(_sigmoid(logits))
    return np.stack(out, axis=1) if out else np.zeros((len(context), 0, *context.shape[2:]), np.float32)
