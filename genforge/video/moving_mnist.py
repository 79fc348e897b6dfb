"""Moving MNIST (Srivastava, Mansimov & Salakhutdinov 2015, "Unsupervised Learning of Video Representations using
LSTMs", section 4): digits bouncing inside a square canvas, built deterministically from MNIST digits.

Each sequence places ``digits`` MNIST digits at uniform random positions, gives each a uniform random direction and
a fixed speed of ``step`` times the free range per frame, and bounces a digit off the canvas edge by reversing that
velocity component; overlapping digits combine by the pixel-wise maximum (as the authors' generator does). The
canvas is ``size`` pixels square and a digit 28x28, so a digit's top-left corner moves in ``[0, size - 28]``.
"""

from __future__ import annotations

import numpy as np

from genforge import GenForgeError

DIGIT = 28  # MNIST digits are 28x28


def trajectories(rng: np.random.Generator, n: int, frames: int, digits: int, *, size: int, step: float) -> np.ndarray:
    """Top-left corners ``int64 (n, frames, digits, 2)`` (row, column) of ``digits`` bouncing digits per sequence.

    Positions live in ``[0, 1]`` (scaled by ``size - 28`` pixels): frame 0 is the uniform random start, and each
    frame moves by ``step`` along the digit's direction, reflecting at 0 and 1.

    Raises:
        GenForgeError: ``size`` below 28 or ``step`` outside (0, 1].

    >>> corners = trajectories(np.random.default_rng(0), 2, 5, 2, size=64, step=0.1)
    >>> corners.shape, int(corners.min()) >= 0, int(corners.max()) <= 36
    ((2, 5, 2, 2), True, True)
    """
    if size < DIGIT or not 0 < step <= 1:
        raise GenForgeError(f"Moving MNIST needs a canvas of at least {DIGIT} pixels and a step in (0, 1]; got size "
                            f"{size} and step {step}")
    position = rng.random((n, digits, 2))
    angle = rng.random((n, digits)) * 2 * np.pi
    velocity = np.stack([np.sin(angle), np.cos(angle)], axis=-1) * step
    out = bounce(position, velocity, frames)
    return np.rint(out * (size - DIGIT)).astype(np.int64)


def bounce(position: np.ndarray, velocity: np.ndarray, frames: int) -> np.ndarray:
    """Positions ``float64 (..., frames, ...)``: frame 0 is ``position``, each next one ``position + velocity``
    reflected into [0, 1] (a coordinate past an edge comes back by as much, and its velocity turns), with the time
    axis inserted after the first axis of ``position``.

    >>> bounce(np.array([0.8]), np.array([0.3]), 4)[0].round(6).tolist()  # 0.8, 1.1 -> 0.9 (turns), 0.6, 0.3
    [0.8, 0.9, 0.6, 0.3]
    """
    out = np.empty((position.shape[0], frames, *position.shape[1:]))
    for t in range(frames):
        out[:, t] = position
        position = position + velocity
        low, high = position < 0, position > 1
        position = np.where(low, -position, np.where(high, 2 - position, position))
        velocity = np.where(low | high, -velocity, velocity)
    return out


def render(digit_images: np.ndarray, corners: np.ndarray, size: int) -> np.ndarray:
    """Frames ``uint8 (n, frames, size, size, 1)``: digit ``d`` of sequence ``i`` (``digit_images[i, d]``,
    ``uint8 (28, 28)``) pasted at ``corners[i, t, d]`` in frame ``t``, overlaps combined by the maximum."""
    n, frames, digits, _ = corners.shape
    out = np.zeros((n, frames, size, size, 1), np.uint8)
    for i in range(n):
        for t in range(frames):
            for d in range(digits):
                r, c = corners[i, t, d]
                window = out[i, t, r:r + DIGIT, c:c + DIGIT, 0]
                np.maximum(window, digit_images[i, d], out=window)
    return out


def sequences(digits: np.ndarray, rng: np.random.Generator, n: int, *, frames: int, per_sequence: int, size: int,
              step: float) -> tuple[np.ndarray, np.ndarray]:
    """``n`` Moving MNIST sequences ``uint8 (n, frames, size, size, 1)`` drawn with ``rng`` from ``digits``
    (``uint8 (N, 28, 28)`` or ``(N, 28, 28, 1)``), and the indices ``int64 (n, per_sequence)`` of the digits used.

    Raises:
        GenForgeError: no digits, or digits that are not 28x28 ``uint8``.
    """
    digits = digits[..., 0] if digits.ndim == 4 else digits
    if len(digits) == 0 or digits.shape[1:] != (DIGIT, DIGIT) or digits.dtype != np.uint8:
        raise GenForgeError(f"Moving MNIST draws from uint8 28x28 digits; got {digits.dtype} {digits.shape}")
    chosen = rng.integers(0, len(digits), (n, per_sequence))
    corners = trajectories(rng, n, frames, per_sequence, size=size, step=step)
    return render(digits[chosen], corners, size), chosen
