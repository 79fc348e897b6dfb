"""Generator models (Keras 3) and the on-disk model folder: weights plus the tokenizer they were trained with."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np

from genforge import GenForgeError
from genforge.text.tokenizers import Tokenizer, load_tokenizer

KERAS_FILE = "model.keras"
INT8_FILE = "model.int8.npz"
TOKENIZER_FILE = "tokenizer.json"


@functools.cache
def _activation_l2_class():
    import keras

    @keras.saving.register_keras_serializable(package="genforge")
    class ActivationL2(keras.regularizers.Regularizer):
        def __init__(self, coefficient: float):
            self.coefficient = float(coefficient)

        def __call__(self, x):
            return self.coefficient * keras.ops.mean(keras.ops.square(x))

        def get_config(self):
            return {"coefficient": self.coefficient}

    return ActivationL2


def activation_l2(coefficient: float):
    """An activity regularizer: ``coefficient * mean(x ** 2)`` over every element of a layer's output, added to the
    training loss (activation regularization, AR, of Merity et al. (2018), *Regularizing and Optimizing LSTM Language
    Models*, sec. 4.6). A mean, unlike ``keras.regularizers.L2``'s sum, so the penalty does not grow with batch size,
    sequence length or width. Saved with the model (registered as ``genforge>ActivationL2``).
    """
    return _activation_l2_class()(coefficient)


def build_lstm(vocab_size: int, *, embedding_dim: int, layers: int, units: int, dropout: float = 0.0,
               recurrent_dropout: float = 0.0, activation_penalty: float = 0.0):
    """The LSTM generator: tokens -> embedding (or one-hot) -> LSTM x layers -> Dense(vocab) logits.

    Shapes: input ``int32 (B, T)``; embedding ``(B, T, E)`` (``E = vocab_size`` one-hot when ``embedding_dim == 0``,
    the classic 256-wide one-hot input of a byte model); each LSTM ``(B, T, units)``; output logits
    ``float32 (B, T, V)``.
    Graves (2013), *Generating Sequences With Recurrent Neural Networks*, sec. 2 and 3.1.

    Args:
        dropout: Keras LSTM ``dropout``, the share of each layer's input units dropped in training.
        recurrent_dropout: Keras LSTM ``recurrent_dropout``, the share of recurrent-state units dropped in training,
            one mask per sequence (Gal & Ghahramani (2016), *A Theoretically Grounded Application of Dropout in
            Recurrent Neural Networks*).
        activation_penalty: coefficient of :func:`activation_l2` on each LSTM layer's outputs; 0 = none.
    """
    import keras

    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    if embedding_dim > 0:
        x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(tokens)
    else:  # one-hot: a frozen identity embedding
        x = keras.layers.Embedding(vocab_size, vocab_size, embeddings_initializer="identity", trainable=False,
                                   name="embedding")(tokens)
    for i in range(layers):
        x = keras.layers.LSTM(units, return_sequences=True, dropout=dropout, recurrent_dropout=recurrent_dropout,
                              activity_regularizer=activation_l2(activation_penalty) if activation_penalty else None,
                              name=f"lstm_{i}")(x)
    logits = keras.layers.Dense(vocab_size, name="logits", dtype="float32")(x)
    return keras.Model(tokens, logits, name="lstm_generator")


def build_mlp(vocab_size: int, *, embedding_dim: int, context: int, hidden: list[int], activation: str = "sigmoid",
              dropout: float = 0.0):
    """The fixed-context neural language model of Bengio et al. (2003), *A Neural Probabilistic Language Model*
    (JMLR 3, sec. 2, eq. 1, without the direct connections): the embeddings of the previous ``context`` tokens,
    concatenated, then dense hidden layers (sigmoid units by default, as the seed names them; Bengio used tanh), then
    a softmax over the vocabulary.

    Shapes: input ``int32 (B, T)``; embedding ``(B, T, E)``; context window ``(B, T, context * E)``
    (:class:`genforge.text.layers.ContextWindow`: position ``t`` sees tokens ``t - context + 1 .. t``, zeros before the
    start); each hidden layer ``(B, T, h)``; output logits ``float32 (B, T, V)``. Every position predicts the next
    token, so it trains on the same windows as the LSTM and decodes incrementally with a buffer of ``context``
    embeddings.
    """
    import keras

    from genforge.text.layers import ContextWindow

    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")(tokens)
    x = ContextWindow(context, name="context")(x)
    for i, width in enumerate(hidden):
        x = keras.layers.Dense(width, activation=activation, name=f"hidden_{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    logits = keras.layers.Dense(vocab_size, name="logits", dtype="float32")(x)
    return keras.Model(tokens, logits, name="mlp_generator")


def build_gpt(vocab_size: int, *, block_size: int, n_layer: int, n_head: int, n_embd: int, dropout: float = 0.0):
    """A decoder-only Transformer configured like nanoGPT (Karpathy, ``model.py``; GPT-2 of Radford et al., 2019):
    token embedding plus learned positions, ``n_layer`` pre-norm blocks of causal self-attention and MLP
    (:class:`genforge.text.layers.TransformerBlock`), a final layer norm and a linear head (not tied to the embedding).

    Shapes: input ``int32 (B, T)`` with ``T <= block_size``; every block ``(B, T, n_embd)``; output logits ``float32
    (B, T, V)``. Weights are initialised N(0, 0.02) like nanoGPT.

    Raises:
        ValueError: ``n_embd`` is not a multiple of ``n_head``.
    """
    import keras

    from genforge.text.layers import PositionEmbedding, TransformerBlock

    if n_embd % n_head:
        raise ValueError(f"n_embd {n_embd} is not divisible by n_head {n_head}")
    init = keras.initializers.RandomNormal(stddev=0.02)
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab_size, n_embd, embeddings_initializer=init, name="wte")(tokens)
    x = PositionEmbedding(block_size, name="wpe")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="drop")(x)
    for i in range(n_layer):
        x = TransformerBlock(n_head, dropout, name=f"block_{i}")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="ln_f")(x)
    logits = keras.layers.Dense(vocab_size, kernel_initializer=init, name="logits", dtype="float32")(x)
    return keras.Model(tokens, logits, name="gpt_generator")


ARCHS = {"lstm_generator": "lstm", "mlp_generator": "mlp", "gpt_generator": "gpt"}


def arch_of(model) -> str:
    """``"lstm"``, ``"mlp"`` or ``"gpt"``: the builder that made ``model`` (read from its name).

    Raises:
        GenForgeError: a model no GenForge builder made.
    """
    try:
        return ARCHS[model.name]
    except KeyError:
        raise GenForgeError(f"model {model.name!r} was not built by GenForge (expected one of "
                            f"{', '.join(ARCHS)})") from None


def block_size(model) -> int | None:
    """The longest window ``model`` accepts: a GPT's ``block_size``; ``None`` (no limit) for the LSTM and MLP."""
    return model.get_layer("wpe").block_size if arch_of(model) == "gpt" else None


def compile_generator(model, *, learning_rate, clipnorm: float = 0.0, weight_decay: float = 0.0, beta_2: float = 0.999,
                      ema_momentum: float = 0.0, jit_compile: bool = False, steps_per_execution: int = 1) -> None:
    """Compile ``model`` for next-token training: sparse categorical cross-entropy on logits (nats/token) and accuracy.

    The optimizer is AdamW (Loshchilov & Hutter (2019), *Decoupled Weight Decay Regularization*; Keras
    ``keras.optimizers.AdamW``) with ``learning_rate`` (a float or a ``keras.optimizers.schedules`` schedule): each
    step also shrinks every weight but the biases (and layer-norm parameters) by ``learning_rate * weight_decay`` times
    itself; ``weight_decay=0`` is Adam (Kingma & Ba, 2015). ``beta_2`` is Adam's decay rate of its running mean of
    squared gradients (Kingma & Ba, 2015, Algorithm 1; the first moment's is Keras's 0.9). Gradients are clipped to
    global norm ``clipnorm`` (0 = off). ``ema_momentum`` > 0 keeps an exponential moving average of the weights with
    that momentum (Keras's ``use_ema``; :mod:`genforge.core.averaging`). ``jit_compile`` compiles the train step
    with XLA; ``steps_per_execution`` runs that many steps per compiled call (Keras ``Model.compile``). Under the
    mixed_float16 policy Keras wraps the optimizer in a ``LossScaleOptimizer``.
    """
    import keras

    optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay, beta_2=beta_2,
                                       clipnorm=clipnorm or None, use_ema=ema_momentum > 0,
                                       ema_momentum=ema_momentum or 0.99)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
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


METHODS = ("none", "int8", "keras_int8")


def save_generator(folder: Path, model, tokenizer: Tokenizer, *, method: str = "none") -> None:
    """Write ``model`` (its weights, never optimizer state) and ``tokenizer`` into ``folder`` (which must exist).

    Args:
        method: ``"none"`` writes ``model.keras`` (Keras's own format, float32). ``"int8"`` writes
            ``model.int8.npz``: the model's JSON config, every weight of rank >= 2 as int8 plus per-channel float32
            scales (:func:`quantize_int8`) and the rest as float32: weight-only quantization of every kernel, about
            4x smaller; computation stays float32 after loading. ``"keras_int8"`` writes ``model.keras`` after Keras's
            ``Model.quantize("int8")``, which quantizes Dense and Embedding layers (int8 kernels, int8 matmuls) and
            leaves LSTM layers float32 (Keras 3 has no quantized LSTM).

    Raises:
        GenForgeError: an unknown ``method``.
    """
    import keras

    if method not in METHODS:
        raise GenForgeError(f"method must be one of {', '.join(METHODS)} (got {method!r})")
    folder = Path(folder)
    tokenizer.save(folder / TOKENIZER_FILE)
    if method == "int8":
        arrays: dict[str, np.ndarray] = {"config": np.array(model.to_json())}
        for i, w in enumerate(model.get_weights()):
            if w.ndim >= 2:
                arrays[f"w{i}_q"], arrays[f"w{i}_scale"] = quantize_int8(w)
            else:
                arrays[f"w{i}"] = w.astype(np.float32)
        arrays["n_weights"] = np.array(len(model.get_weights()))
        np.savez_compressed(folder / INT8_FILE, **arrays)
        return
    # an uncompiled copy: no optimizer state is saved, and quantizing leaves the caller's model as it was
    if getattr(model, "optimizer", None) is not None or method == "keras_int8":
        weights = model.get_weights()
        model = keras.Model.from_config(model.get_config())
        model.set_weights(weights)
    if method == "keras_int8":
        with warnings.catch_warnings():  # "Layer LSTMCell does not have a `quantize` method": known, see above
            warnings.filterwarnings("ignore", message=".*does not have a `quantize` method", category=UserWarning)
            model.quantize("int8")
    model.save(folder / KERAS_FILE)


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
    _activation_l2_class()  # registered before a model that uses it is deserialized
    import genforge.text.layers  # noqa: F401  (registers the MLP and GPT layers)
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

