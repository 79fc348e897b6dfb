"""Sampling tunes: ABC text from a sequence model of the text modality, one tune per seed; the served model and the
evaluate stage both draw through :func:`sample_tunes`."""

from __future__ import annotations

from genforge.text.sampling import generate_batch

STOP = "\n\n"  # a tune ends at its first empty line, as the tunes of the training text do


def sample_tunes(model, tokenizer, *, prompt: str, n: int, max_tokens: int, temperature: float,
                 seed: int) -> list[str]:
    """``n`` tunes (ABC: header fields and body) sampled from ``prompt``, tune ``i`` with seed ``seed + i``
    (:func:`genforge.text.sampling.generate_batch`), each ending before its first empty line; the prompt
    included.

    Raises:
        GenForgeError: a prompt character outside the tokenizer's vocabulary, or an argument out of range.
    """
    texts = generate_batch(model, tokenizer, [prompt] * n, max_new_tokens=max_tokens, temperature=temperature,
                           seed=seed, stop=[STOP])
    return [prompt + t for t in texts]
