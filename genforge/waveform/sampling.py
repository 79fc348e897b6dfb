"""Sampling waveforms: mu-law codes drawn one sample at a time from a sequence model of the text modality, one clip
per seed; the served model and the evaluate stage both draw through :func:`sample_codes`."""

from __future__ import annotations

import numpy as np

from genforge.text.sampling import generate_batch
from genforge.text.tokenizers import Tokenizer
from genforge.waveform.mulaw import CLASSES, SILENCE


class MuLawCodes(Tokenizer):
    """The 256 mu-law codes as a tokenizer of the text sampler: code ``c`` is the character ``chr(c)`` (Latin-1,
    whose 256 characters are exactly the bytes), so the text sampler's prompts and outputs carry codes unchanged."""

    kind, vocab_size, unit = "byte", CLASSES, "sample"

    def encode(self, text: str) -> np.ndarray:
        return np.frombuffer(text.encode("latin-1"), dtype=np.uint8).astype(np.int32)

    def decode(self, ids) -> str:
        return bytes(np.asarray(ids, dtype=np.uint8).tolist()).decode("latin-1")

    def to_dict(self) -> dict:
        return {"kind": "byte"}


def sample_codes(model, *, n: int, length: int, temperature: float, seed: int) -> np.ndarray:
    """``n`` clips of ``length`` mu-law codes each, clip ``i`` drawn with seed ``seed + i`` after the prompt
    :data:`~genforge.waveform.mulaw.SILENCE` (:func:`genforge.text.sampling.generate_batch`: row ``i`` of a batch
    equals the one-clip call with seed ``seed + i``).

    Returns:
        ``uint8 (n, length)``.

    Raises:
        GenForgeError: an argument out of range.
    """
    codes = MuLawCodes()
    texts = generate_batch(model, codes, [chr(SILENCE)] * n, max_new_tokens=length, temperature=temperature,
                           seed=seed, chunk=256)
    return np.stack([codes.encode(t) for t in texts]).astype(np.uint8).reshape(n, length)
