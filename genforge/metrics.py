"""Language-model metrics, pure numpy.

Definitions follow Goodfellow, Bengio & Courville, *Deep Learning* (2016), sec. 5.5 and 12.4: the cross-entropy of a
model on a text is the mean negative log-likelihood of each next token (nats/token); perplexity is its exponential;
bits per character (or per byte) is the total negative log-likelihood in bits divided by the number of characters
(bytes) scored, as in Graves, *Generating Sequences With Recurrent Neural Networks* (2013), sec. 3.
"""

from __future__ import annotations

import math

import numpy as np


def token_nll(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Negative log-likelihood of each target under softmax(logits), computed in float64.

    Args:
        logits: float array of shape ``(..., V)``, unnormalised log-probabilities.
        targets: int array of shape ``(...)``, ids in ``[0, V)``.

    Returns:
        float64 array of shape ``(...)``, in nats: ``logsumexp(logits) - logits[target]``.

    Raises:
        ValueError: the shapes do not match or a target is outside ``[0, V)``.
    """
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets)
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits shape {logits.shape} does not match targets shape {targets.shape}")
    if targets.size and (targets.min() < 0 or targets.max() >= logits.shape[-1]):
        raise ValueError(f"targets must lie in [0, {logits.shape[-1]})")
    m = logits.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(logits - m).sum(axis=-1)) + m[..., 0]
    return lse - np.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]


def accuracy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Share of positions whose most likely token (argmax of ``logits``, shape ``(..., V)``) equals the target."""
    return float(np.mean(np.argmax(logits, axis=-1) == np.asarray(targets)))


def language_model_metrics(total_nats: float, n_tokens: int, correct: int, unit: str) -> dict[str, float]:
    """Headline metrics from summed negative log-likelihood.

    Args:
        total_nats: sum of per-token NLL over the scored tokens, in nats.
        n_tokens: number of scored tokens (> 0).
        correct: number of scored tokens whose argmax prediction was right.
        unit: ``"character"`` or ``"byte"``: what one token is.

    Returns:
        ``cross_entropy`` (nats/token), ``perplexity`` (exp of it), ``bits_per_<unit>`` (cross_entropy / ln 2;
        one token is one unit), ``accuracy`` (next-token, 0..1) and ``tokens`` (n_tokens).

    Raises:
        ValueError: ``n_tokens`` is not positive.
    """
    if n_tokens <= 0:
        raise ValueError("n_tokens must be positive")
    ce = total_nats / n_tokens
    return {
        "cross_entropy": ce,
        "perplexity": math.exp(ce),
        f"bits_per_{unit}": ce / math.log(2),
        "accuracy": correct / n_tokens,
        "tokens": n_tokens,
    }
