"""Keras layers of the MLP and GPT generators, each with the one-token step that incremental decoding uses.

Written with ``keras.ops`` only, so the models also run on the JAX backend. Registered as ``genforge>Name`` so that
saved models load without custom objects.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="genforge")
class ContextWindow(keras.layers.Layer):
    """The fixed context of a neural probabilistic language model (Bengio et al. (2003), *A Neural Probabilistic
    Language Model*, JMLR 3, eq. 1): at each position, the embeddings of the ``context`` previous tokens, oldest first,
    concatenated. Positions with fewer than ``context`` predecessors see zero vectors in place of the missing ones.

    Input ``(B, T, E)``; output ``(B, T, context * E)``; the slot ``j`` (0-based) of position ``t`` holds the
    embedding of token ``t - context + 1 + j``.
    """

    def __init__(self, context: int, **kwargs):
        super().__init__(**kwargs)
        self.context = int(context)

    def call(self, x):
        t = ops.shape(x)[1]
        padded = ops.pad(x, [[0, 0], [self.context - 1, 0], [0, 0]])
        return ops.concatenate([padded[:, j:j + t] for j in range(self.context)], axis=-1)

    def compute_output_shape(self, shape):
        return (*shape[:-1], None if shape[-1] is None else shape[-1] * self.context)

    def get_config(self):
        return {**super().get_config(), "context": self.context}


@keras.saving.register_keras_serializable(package="genforge")
class PositionEmbedding(keras.layers.Layer):
    """Learned absolute positions (GPT; Radford et al., 2018): ``x + P[offset : offset + T]`` for ``x (B, T, E)``,
    ``P (block_size, E)``. Raises ``ValueError`` at trace time when ``T > block_size``."""

    def __init__(self, block_size: int, **kwargs):
        super().__init__(**kwargs)
        self.block_size = int(block_size)

    def build(self, shape):
        self.table = self.add_weight(name="table", shape=(self.block_size, shape[-1]),
                                     initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, x):
        t = x.shape[1]
        if isinstance(t, int) and t > self.block_size:  # a JAX trace's symbolic length is not an int
            raise ValueError(f"a window of {t} tokens is longer than the model's block_size {self.block_size}")
        return x + ops.cast(self.table[: ops.shape(x)[1]], x.dtype)[None]

    def compute_output_shape(self, shape):  # so that Keras need not trace call() with a symbolic length (JAX)
        return shape

    def add_at(self, x, positions):
        """One token per row: ``x (B, E)`` plus the table's rows at ``positions`` (int ``(B,)``), added in ``x``'s
        dtype as :meth:`call` adds them (float16 or bfloat16 under mixed precision)."""
        return x + ops.cast(ops.take(self.table, positions, axis=0), x.dtype)

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}


def gelu(x):
    """The exact GELU, ``x Φ(x) = x (1 + erf(x / √2)) / 2`` (Hendrycks & Gimpel (2016), *Gaussian Error Linear
    Units*, eq. 1; PyTorch's ``nn.GELU()``, which nanoGPT uses), elementwise, any float dtype and shape.

    Written with ``erf``, as ``jax.nn.gelu(approximate=False)`` is. Keras's ``"gelu"`` on TensorFlow calls
    ``tf.nn.gelu``, which writes it with ``erfc``: the same function (within 1e-6 over [-8, 8] in float32), but XLA:CPU
    spent 7.6 of the cpu-gpt train step's 87 ms in that ``erfc``; with ``erf`` the step took 0.95x the time
    (measured in one process, AdamW, 240 steps each).
    """
    return 0.5 * x * (1.0 + ops.erf(x * (2.0 ** -0.5)))


@keras.saving.register_keras_serializable(package="genforge")
class TransformerBlock(keras.layers.Layer):
    """A pre-norm decoder block as in GPT-2 and nanoGPT (Radford et al. (2019); Karpathy, nanoGPT ``model.py``):
    ``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))``, causal multi-head self-attention (Vaswani et al. (2017),
    *Attention Is All You Need*, eq. 1) and a GELU MLP 4x wide; dropout on the attention weights and the residual
    branches in training.

    Input and output ``(B, T, E)``, ``E = n_head * head_dim``. Attention scores and softmax are computed in float32
    whatever the dtype policy, so mixed_float16 cannot overflow them.
    """

    def __init__(self, n_head: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.n_head = int(n_head)
        self.dropout = float(dropout)

    def build(self, shape):
        e = shape[-1]
        if e % self.n_head:
            raise ValueError(f"n_embd {e} is not divisible by n_head {self.n_head}")
        self.head_dim = e // self.n_head
        init = keras.initializers.RandomNormal(stddev=0.02)
        self.ln_1 = keras.layers.LayerNormalization(epsilon=1e-5, name="ln_1", dtype=self.dtype_policy)
        self.c_attn = keras.layers.Dense(3 * e, kernel_initializer=init, name="c_attn", dtype=self.dtype_policy)
        self.c_proj = keras.layers.Dense(e, kernel_initializer=init, name="c_proj", dtype=self.dtype_policy)
        self.ln_2 = keras.layers.LayerNormalization(epsilon=1e-5, name="ln_2", dtype=self.dtype_policy)
        self.fc = keras.layers.Dense(4 * e, activation=gelu, kernel_initializer=init, name="c_fc",
                                     dtype=self.dtype_policy)
        self.fc_proj = keras.layers.Dense(e, kernel_initializer=init, name="mlp_c_proj", dtype=self.dtype_policy)
        self.attn_drop = keras.layers.Dropout(self.dropout)
        self.resid_drop = keras.layers.Dropout(self.dropout)
        for layer, s in ((self.ln_1, shape), (self.c_attn, shape), (self.c_proj, shape), (self.ln_2, shape),
                         (self.fc, shape), (self.fc_proj, (*shape[:-1], 4 * e))):
            layer.build(s)

    def _heads(self, x):  # (B, T, E) -> (B, H, T, D)
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        return ops.transpose(ops.reshape(x, (b, t, self.n_head, self.head_dim)), (0, 2, 1, 3))

    def _merge(self, y):  # (B, H, T, D) -> (B, T, E)
        b, t = ops.shape(y)[0], ops.shape(y)[2]
        return ops.reshape(ops.transpose(y, (0, 2, 1, 3)), (b, t, self.n_head * self.head_dim))

    def _attend(self, q, k, v, mask, training=False):
        scores = ops.matmul(ops.cast(q, "float32"), ops.transpose(ops.cast(k, "float32"), (0, 1, 3, 2)))
        scores = ops.where(mask, scores / (self.head_dim ** 0.5), float("-inf"))
        weights = self.attn_drop(ops.softmax(scores, axis=-1), training=training)
        return ops.cast(ops.matmul(weights, ops.cast(v, "float32")), self.compute_dtype)

    def _mlp(self, x, training=False):
        return x + self.resid_drop(self.fc_proj(self.fc(self.ln_2(x))), training=training)

    def call(self, x, training=False):
        return self.forward(x, training)[0]

    def _qkv(self, x):  # (..., E) -> queries, keys and values, each (..., E)
        return ops.split(self.c_attn(self.ln_1(x)), 3, axis=-1)

    def forward(self, x, training=False):
        """The block on ``x (B, T, E)``: its output ``(B, T, E)`` and the keys and values of every position, each
        ``(B, H, T, D)`` (what a cache holds; a prefill keeps them)."""
        q, k, v = (self._heads(y) for y in self._qkv(x))
        t = ops.shape(x)[1]
        causal = ops.tril(ops.ones((t, t), dtype="bool"))[None, None]
        y = self._merge(self._attend(q, k, v, causal, training))
        x = x + self.resid_drop(self.c_proj(y), training=training)
        return self._mlp(x, training), k, v

    def step(self, x, cache_k, cache_v, positions):
        """One new token per row with a key/value cache (incremental decoding).

        Args:
            x: ``(B, E)``, the new token's input to this block.
            cache_k, cache_v: ``(B, H, S, D)``, the keys and values of earlier positions (``S`` = block size).
            positions: int ``(B,)``, the new token's position in each row (``< S``); the cache slots below it are
                valid, the rest are ignored.

        Returns:
            ``(y, cache_k, cache_v)``: the block output ``(B, E)`` and the caches with slot ``positions`` written.
        """
        b, h, s, d = ops.shape(cache_k)[0], self.n_head, ops.shape(cache_k)[2], self.head_dim
        # (B, E) throughout, not (B, 1, E): Keras's Dense runs a 3-D input through tensordot, and the decoding loop
        # took 1.13x the time that way (batch 32, measured in one process)
        q, k, v = (ops.reshape(y, (b, h, d)) for y in self._qkv(x))  # (B, H, D) each
        # slot [row, head, positions[row]] of each cache gets the new key and value: a scatter of B * H vectors of D
        # instead of a blend that rewrites every slot (1.13x the chars/s at batch 32, 1.35x at batch 1, measured)
        index = [ops.broadcast_to(i, (b, h)) for i in (ops.arange(b)[:, None], ops.arange(h)[None, :],
                                                       ops.cast(positions, "int32")[:, None])]
        index = ops.reshape(ops.stack(index, axis=-1), (b * h, 3))
        cache_k = ops.scatter_update(cache_k, index, ops.reshape(ops.cast(k, cache_k.dtype), (b * h, d)))
        cache_v = ops.scatter_update(cache_v, index, ops.reshape(ops.cast(v, cache_v.dtype), (b * h, d)))
        visible = (ops.arange(s)[None, :] <= positions[:, None])[:, None, None, :]  # (B, 1, 1, S)
        y = self._attend(q[:, :, None], cache_k, cache_v, visible)  # (B, H, 1, D)
        x = x + self.c_proj(ops.reshape(y, (b, h * d)))
        return self._mlp(x), cache_k, cache_v

    def get_config(self):
        return {**super().get_config(), "n_head": self.n_head, "dropout": self.dropout}
