"""Scoring a generator on a token stream: the numbers behind the evaluate and optimize stages."""

from __future__ import annotations

import numpy as np

from genforge.text.data import chop
from genforge.text.metrics import language_model_metrics, token_nll, top_k_hits


def score(model, tokens: np.ndarray, *, context: int, unit: str, batch_size: int = 128) -> dict[str, float]:
    """Cross-entropy, perplexity, bits per unit and top-1 / top-5 next-token accuracy of ``model`` on ``tokens``.

    The stream is cut into consecutive windows of ``context`` tokens (the last may be shorter); each window starts
    from an empty state and predicts its next tokens, so every token but the first is scored exactly once. A GPT
    scores windows of at most its block size (``context`` is lowered to it).

    Args:
        model: maps ``int32 (B, T)`` to logits ``(B, T, V)``.
        tokens: 1-D int array, the whole split.
        context: window length in tokens.
        unit: ``"character"`` or ``"byte"`` (names the bits-per-unit metric).

    Returns:
        :func:`genforge.text.metrics.language_model_metrics` of all scored tokens.
    """
    from genforge.text.models import ARCHS, block_size

    if getattr(model, "name", None) in ARCHS and block_size(model):
        context = min(context, block_size(model))
    tokens = np.asarray(tokens, dtype=np.int32)
    total, correct, top5, count = 0.0, 0, 0, 0

    def add(x: np.ndarray, y: np.ndarray) -> None:
        nonlocal total, correct, top5, count
        logits = np.asarray(model.predict_on_batch(x))  # compiled once, unlike an eager model(x)
        total += float(token_nll(logits, y).sum())
        correct += int((logits.argmax(-1) == y).sum())
        top5 += int(top_k_hits(logits, y, 5).sum())
        count += y.size

    n_full = (len(tokens) - 1) // context
    if n_full:
        x, y = chop(tokens, context)
        for i in range(0, n_full, batch_size):
            add(x[i:i + batch_size], y[i:i + batch_size])
    tail = tokens[n_full * context:]
    if len(tail) > 1:
        add(tail[None, :-1], tail[None, 1:])
    return language_model_metrics(total, count, correct, unit, correct_top5=top5)
