"""Mu-law companding and 8-bit quantization: audio in ``[-1, 1]`` to 256 classes and back, as WaveNet (van den Oord
et al. 2016, sec. 2.2) and ITU-T G.711's continuous mu-law curve with mu = 255."""

from __future__ import annotations

import numpy as np

MU = 255  # the companding constant; the codes are 0 .. MU (256 classes)
CLASSES = MU + 1
SILENCE = 128  # encode(0.0): the code every sampled clip starts from


def encode(x) -> np.ndarray:
    """Mu-law codes of audio samples: ``F(x) = sign(x) ln(1 + mu |x|) / ln(1 + mu)``, then ``F`` in ``[-1, 1]`` is
    rounded to one of 256 levels: ``code = floor((F + 1) / 2 * mu + 0.5)``.

    Args:
        x: float samples of any shape; values outside ``[-1, 1]`` are clipped to it first.

    Returns:
        ``uint8`` codes, the shape of ``x``: 0 for -1, 128 for 0, 255 for 1.

    Raises:
        ValueError: ``x`` is not a float array (integer PCM must be scaled to ``[-1, 1]`` first), or holds NaN or
            an infinity.
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise ValueError(f"mu-law encode takes float samples in [-1, 1], not {x.dtype} (scale 16-bit PCM by 1/32768)")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError("mu-law encode: the samples hold NaN or an infinity")
    x = np.clip(x, -1.0, 1.0)
    f = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)
    return np.floor((f + 1) / 2 * MU + 0.5).astype(np.uint8)


def decode(codes) -> np.ndarray:
    """Audio samples of mu-law codes, the inverse of :func:`encode` up to its rounding:
    ``F = 2 code / mu - 1``, ``x = sign(F) ((1 + mu)^|F| - 1) / mu``.

    Args:
        codes: integer codes in ``[0, 255]``, any shape.

    Returns:
        ``float32`` samples in ``[-1, 1]``, the shape of ``codes``.

    Raises:
        ValueError: codes that are not integers, or a code outside ``[0, 255]``.
    """
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iu":
        raise ValueError(f"mu-law decode takes integer codes in [0, {MU}], not {codes.dtype}")
    if codes.size and (codes.min() < 0 or codes.max() > MU):
        raise ValueError(f"mu-law decode: codes must lie in [0, {MU}] (got {codes.min()} .. {codes.max()})")
    f = codes.astype(np.float64) * 2 / MU - 1
    return (np.sign(f) * np.expm1(np.abs(f) * np.log1p(MU)) / MU).astype(np.float32)
