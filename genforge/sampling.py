"""Text generation from a trained generator: incremental decoding and temperature / top-k / top-p sampling."""

from __future__ import annotations

import time

import numpy as np

from genforge import GenForgeError
from genforge.tokenizers import Tokenizer


def next_token_distribution(logits: np.ndarray, temperature: float, top_k: int = 0, top_p: float = 1.0) -> np.ndarray:
    """The sampling distribution over the vocabulary for one position, in float64.

    Softmax of ``logits / temperature`` restricted to the ``top_k`` most likely tokens (0 = all) and then to the
    smallest set whose probability reaches ``top_p`` (nucleus sampling: Holtzman et al., 2020, *The Curious Case of
    Neural Text Degeneration*, sec. 3.1). ``temperature == 0`` gives a one-hot on the argmax (greedy).

    Args:
        logits: shape ``(V,)``, any float dtype.
        temperature: >= 0.
        top_k: >= 0.
        top_p: in ``(0, 1]``.

    Returns:
        float64 array of shape ``(V,)``, non-negative, summing to 1, never NaN (the maximum is subtracted before
        ``exp`` in float64, so a tiny positive temperature is safe).

    Raises:
        GenForgeError: an argument is out of range.
    """
    if not 0 <= temperature < float("inf"):
        raise GenForgeError(f"temperature must be a finite number >= 0 (got {temperature})")
    if top_k < 0:
        raise GenForgeError(f"top_k must be >= 0 (got {top_k})")
    if not 0 < top_p <= 1:  # also rejects NaN
        raise GenForgeError(f"top_p must be in (0, 1] (got {top_p})")
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    p = np.zeros_like(z)
    if temperature == 0:
        p[int(np.argmax(z))] = 1.0
        return p
    z = z / temperature
    if 0 < top_k < z.size:
        kth = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= kth, z, -np.inf)
    e = np.exp(z - z.max())
    p = e / e.sum()
    if top_p < 1:
        order = np.argsort(-p, kind="stable")
        cum = np.cumsum(p[order])
        keep = order[: int(np.searchsorted(cum, top_p)) + 1]
        mask = np.zeros_like(p, dtype=bool)
        mask[keep] = True
        p = np.where(mask, p, 0.0)
        p /= p.sum()
    return p


def sample_token(p: np.ndarray, rng: np.random.Generator) -> int:
    """Draw one id from distribution ``p`` (shape ``(V,)``) by inverse CDF; always an id with ``p > 0``."""
    cum = np.cumsum(p)
    i = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
    i = min(i, p.size - 1)
    while p[i] == 0:  # guard against landing on a zero-probability id at the boundary
        i -= 1
    return i


class LSTMStepper:
    """Incremental decoding of an LSTM generator built by :func:`genforge.models.build_lstm`: one token at a time,
    carrying each layer's ``(h, c)`` state, with the same layers and weights as the full model.

    Args:
        model: the Keras model (layers named ``embedding``, ``lstm_<i>``, ``logits``).
    """

    def __init__(self, model):
        import keras

        self.embedding = model.get_layer("embedding")
        self.lstms = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
        self.head = model.get_layer("logits")
        step = self.step_tensors
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            step = tf.function(step, reduce_retracing=True)
        self._compiled = step

    def step_tensors(self, tokens, states):
        """One decoding step on tensors, not compiled (to trace into another graph, as the LiteRT export does):
        ``tokens int32 (B,)`` and ``[(h, c)]`` per layer, each ``float32 (B, units)``, to logits ``(B, V)`` and the
        new states."""
        x = self.embedding(tokens)  # (B, E)
        new_states = []
        for lstm, (h, c) in zip(self.lstms, states, strict=True):
            x, (h, c) = lstm.cell(x, [h, c])  # (B, units)
            new_states.append((h, c))
        return self.head(x), new_states  # (B, V)

    def initial_state(self, batch: int):
        """Zero ``(h, c)`` per layer, each ``float32 (batch, units)``."""
        return [(np.zeros((batch, layer.units), np.float32), np.zeros((batch, layer.units), np.float32))
                for layer in self.lstms]

    def step(self, tokens: np.ndarray, states):
        """Feed ``tokens`` (``int32 (B,)``); return logits ``float32 (B, V)`` as numpy and the new states."""
        logits, states = self._compiled(np.asarray(tokens, dtype=np.int32), states)
        return np.array(logits, dtype=np.float32), states


def generate(model, tokenizer: Tokenizer, prompt: str, *, max_new_tokens: int, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 1.0, seed: int = 0) -> str:
    """Continue ``prompt`` by ``max_new_tokens`` sampled tokens; the same ``seed`` gives the same text.

    The one-prompt case of :func:`generate_batch` (same arguments, same errors).

    Returns:
        The new text only (the prompt is not repeated).
    """
    return generate_batch(model, tokenizer, [prompt], max_new_tokens=max_new_tokens, temperature=temperature,
                          top_k=top_k, top_p=top_p, seed=seed)[0]


def generate_batch(model, tokenizer: Tokenizer, prompts: list[str], *, max_new_tokens: int,
                   temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed: int = 0,
                   step_seconds: list[float] | None = None) -> list[str]:
    """Continue every prompt by ``max_new_tokens`` sampled tokens, all rows decoded together as one batch.

    The prompts are fed token by token through :class:`LSTMStepper`; a row whose prompt is shorter keeps its state
    until the longest prompt is read, so rows never see padding. Each new token is drawn from
    :func:`next_token_distribution`; row ``i`` draws with ``numpy.random.default_rng(seed + i)``, so row ``i`` of a
    batch equals :func:`generate` of the same prompt with seed ``seed + i``. The tokenizer's ``never_generate`` ids
    (a char model's <unk>) get no probability.

    Args:
        step_seconds: if given, the wall time of each generation step (one new token for every row: model step plus
            sampling) is appended to it, in seconds.

    Returns:
        The new text of each prompt (the prompt is not repeated), in order.

    Raises:
        GenForgeError: no prompts, an empty prompt or one with characters outside a char vocabulary, or an argument
            out of range.
    """
    if not prompts:
        raise GenForgeError("prompts must not be empty")
    if not all(prompts):
        raise GenForgeError("prompt must not be empty")
    if max_new_tokens < 0:
        raise GenForgeError(f"max_new_tokens must be >= 0 (got {max_new_tokens})")
    next_token_distribution(np.zeros(1), temperature, top_k, top_p)  # validate before any model work
    ids = [tokenizer.encode_prompt(p) for p in prompts]
    rngs = [np.random.default_rng(seed + i) for i in range(len(prompts))]
    stepper = LSTMStepper(model)
    states = stepper.initial_state(len(prompts))
    logits = None
    for t in range(max(len(x) for x in ids)):
        live = np.array([t < len(x) for x in ids])
        tokens = np.array([x[min(t, len(x) - 1)] for x in ids])
        new_logits, new_states = stepper.step(tokens, states)
        if live.all():
            logits, states = new_logits, new_states
        else:  # rows whose prompt has ended keep their last logits and state
            logits = np.where(live[:, None], new_logits, logits)
            states = [tuple(np.where(live[:, None], n, o) for n, o in zip(ns, os_, strict=True))
                      for ns, os_ in zip(new_states, states, strict=True)]
    out: list[list[int]] = [[] for _ in prompts]
    banned = list(tokenizer.never_generate)
    for _ in range(max_new_tokens):
        start = time.perf_counter()
        logits[:, banned] = -np.inf
        tokens = np.array([sample_token(next_token_distribution(row, temperature, top_k, top_p), rng)
                           for row, rng in zip(logits, rngs, strict=True)])
        for row, token in zip(out, tokens, strict=True):
            row.append(int(token))
        logits, states = stepper.step(tokens, states)
        if step_seconds is not None:
            step_seconds.append(time.perf_counter() - start)
    return [tokenizer.decode(row) for row in out]
