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


def top_k_hits(logits: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    """Whether each target is among the ``k`` highest logits (top-k accuracy's numerator, per position).

    A target tied with the k-th highest logit counts as a hit only if fewer than ``k`` logits are strictly higher
    than it, so the count never exceeds what ``k`` guesses could cover.

    Args:
        logits: float array ``(..., V)``.
        targets: int array ``(...)``, ids in ``[0, V)``.
        k: ``>= 1``; ``k >= V`` makes every position a hit.

    Returns:
        bool array ``(...)``.

    Raises:
        ValueError: ``k < 1``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1 (got {k})")
    logits = np.asarray(logits)
    target_logit = np.take_along_axis(logits, np.asarray(targets)[..., None], axis=-1)
    return (logits > target_logit).sum(axis=-1) < k


def language_model_metrics(total_nats: float, n_tokens: int, correct: int, unit: str,
                           correct_top5: int | None = None) -> dict[str, float]:
    """Headline metrics from summed negative log-likelihood.

    Args:
        total_nats: sum of per-token NLL over the scored tokens, in nats.
        n_tokens: number of scored tokens (> 0).
        correct: number of scored tokens whose argmax prediction was right.
        unit: ``"character"`` or ``"byte"``: what one token is.
        correct_top5: number of scored tokens among the model's 5 most likely (see :func:`top_k_hits`), if known.

    Returns:
        ``cross_entropy`` (nats/token), ``perplexity`` (exp of it), ``bits_per_<unit>`` (cross_entropy / ln 2;
        one token is one unit), ``accuracy`` (top-1 next-token, 0..1), ``top5_accuracy`` (when ``correct_top5`` is
        given) and ``tokens`` (n_tokens).

    Raises:
        ValueError: ``n_tokens`` is not positive.
    """
    if n_tokens <= 0:
        raise ValueError("n_tokens must be positive")
    ce = total_nats / n_tokens
    out = {
        "cross_entropy": ce,
        "perplexity": math.exp(ce),
        f"bits_per_{unit}": ce / math.log(2),
        "accuracy": correct / n_tokens,
    }
    if correct_top5 is not None:
        out["top5_accuracy"] = correct_top5 / n_tokens
    return {**out, "tokens": n_tokens}
