"""Generator models (Keras 3) and the on-disk model folder: weights plus the tokenizer they were trained with."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.tokenizers import Tokenizer, load_tokenizer

KERAS_FILE = "model.keras"
INT8_FILE = "model.int8.npz"
TOKENIZER_FILE = "tokenizer.json"


def build_lstm(vocab_size: int, *, embedding_dim: int, layers: int, units: int):
    """The LSTM generator: tokens -> embedding (or one-hot) -> LSTM x layers -> Dense(vocab) logits.

    Shapes: input ``int32 (B, T)``; embedding ``(B, T, E)`` (``E = vocab_size`` one-hot when ``embedding_dim == 0``,
    the classic 256-wide one-hot input of a byte model); each LSTM ``(B, T, units)``; output logits
    ``float32 (B, T, V)``.
    Graves (2013), *Generating Sequences With Recurrent Neural Networks*, sec. 2 and 3.1.
    """
    import keras

    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    if embedding_dim > 0:
        x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(tokens)
    else:  # one-hot: a frozen identity embedding
        x = keras.layers.Embedding(vocab_size, vocab_size, embeddings_initializer="identity", trainable=False,
                                   name="embedding")(tokens)
    for i in range(layers):
        x = keras.layers.LSTM(units, return_sequences=True, name=f"lstm_{i}")(x)
    logits = keras.layers.Dense(vocab_size, name="logits")(x)
    return keras.Model(tokens, logits, name="lstm_generator")


def compile_generator(model, *, learning_rate: float, clipnorm: float = 0.0) -> None:
    """Compile ``model`` for next-token training: Adam (Kingma & Ba, 2015) with ``learning_rate``, gradient clipping by
    global norm ``clipnorm`` (0 = off), sparse categorical cross-entropy on logits (nats/token) and accuracy."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, clipnorm=clipnorm or None),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )


def quantize_int8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel int8 quantization of a weight matrix.

    ``scale[j] = max_i |w[i, j]| / 127`` over every axis but the last; ``q = round(w / scale)`` clipped to
    ``[-127, 127]``. Jacob et al. (2018), *Quantization and Training of Neural Networks for Efficient
    Integer-Arithmetic-Only Inference*, sec. 2 (with zero point 0).

    Args:
        w: float array, ``ndim >= 2``; the last axis is the output channel.

    Returns:
        ``(q, scale)``: ``int8`` array shaped like ``w`` and ``float32`` array of shape ``(w.shape[-1],)``.
    """
    w = np.asarray(w, dtype=np.float32)
    amax = np.abs(w).reshape(-1, w.shape[-1]).max(axis=0)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


def dequantize_int8(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Inverse of :func:`quantize_int8`: ``float32`` array ``q * scale``."""
    return q.astype(np.float32) * scale.astype(np.float32)


def save_generator(folder: Path, model, tokenizer: Tokenizer, *, int8: bool = False) -> None:
    """Write ``model`` and ``tokenizer`` into ``folder`` (which must exist).

    ``int8=False`` writes ``model.keras`` (Keras's own format). ``int8=True`` writes ``model.int8.npz``: the model's
    JSON config, every weight of rank >= 2 as int8 plus per-channel float32 scales (:func:`quantize_int8`) and the
    rest as float32: weight-only quantization, about 4x smaller; computation stays float32 after loading.
    """
    folder = Path(folder)
    tokenizer.save(folder / TOKENIZER_FILE)
    if not int8:
        model.save(folder / KERAS_FILE)
        return
    arrays: dict[str, np.ndarray] = {"config": np.array(model.to_json())}
    for i, w in enumerate(model.get_weights()):
        if w.ndim >= 2:
            arrays[f"w{i}_q"], arrays[f"w{i}_scale"] = quantize_int8(w)
        else:
            arrays[f"w{i}"] = w.astype(np.float32)
    arrays["n_weights"] = np.array(len(model.get_weights()))
    np.savez_compressed(folder / INT8_FILE, **arrays)


def _load_int8(path: Path):
    import keras

    with np.load(path) as z:
        model = keras.models.model_from_json(str(z["config"]))
        weights = []
        for i in range(int(z["n_weights"])):
            weights.append(dequantize_int8(z[f"w{i}_q"], z[f"w{i}_scale"]) if f"w{i}_q" in z else z[f"w{i}"])
    model.set_weights(weights)
    return model


def load_generator(folder: str | Path):
    """Load a model folder written by :func:`save_generator`.

    Returns:
        ``(model, tokenizer)``: a ``keras.Model`` mapping ``int32 (B, T)`` to logits ``(B, T, V)``, and its tokenizer.

    Raises:
        GenForgeError: the folder holds neither ``model.keras`` nor ``model.int8.npz``.
    """
    import keras

    folder = Path(folder)
    if not (folder / KERAS_FILE).exists() and not (folder / INT8_FILE).exists():
        raise GenForgeError(f"{folder}: no {KERAS_FILE} or {INT8_FILE}; pass a model folder written by the train "
                            "or optimize stage (run `dvc repro` if it is missing)")
    tokenizer = load_tokenizer(folder / TOKENIZER_FILE)
    try:
        model = (keras.saving.load_model(folder / KERAS_FILE) if (folder / KERAS_FILE).exists()
                 else _load_int8(folder / INT8_FILE))
    except (OSError, ValueError, KeyError) as e:
        raise GenForgeError(f"{folder}: the model file cannot be loaded ({e}); re-run the stage that wrote it") from e
    return model, tokenizer


def model_file(folder: str | Path) -> Path:
    """The weights file inside a model folder (``model.keras`` or ``model.int8.npz``)."""
    folder = Path(folder)
    return folder / KERAS_FILE if (folder / KERAS_FILE).exists() else folder / INT8_FILE

