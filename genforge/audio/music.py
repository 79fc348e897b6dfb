"""Measures of melodies as event lists (``(MIDI pitch, length in quarter notes)`` per note, :func:`genforge.audio.abc
.events`): pitch-class, interval and note-length histograms, their overlapping area and KL divergence (the
histogram features of Yang & Lerch, "On the evaluation of generative models in music", Neural Computing and
Applications 2020), copied event n-grams, and a unigram baseline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Events = Sequence[tuple[int, float]]
INTERVALS = 25  # interval bins: -12 .. +12 semitones, larger leaps clipped to the outer bins
LENGTHS = (0.125, 0.25, 1 / 3, 0.5, 2 / 3, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)  # note-length bins (quarter notes)


def histograms(melodies: Sequence[Events]) -> dict[str, np.ndarray]:
    """Normalized histograms over all notes of ``melodies``: ``pitch_class`` (12 bins, C = 0), ``interval`` (25
    bins, successive pitches within a melody, -12..+12 semitones, clipped) and ``note_length`` (11 bins: the
    nearest of :data:`LENGTHS`). A histogram with no counts is all zeros."""
    pcs, steps, lengths = np.zeros(12), np.zeros(INTERVALS), np.zeros(len(LENGTHS))
    for melody in melodies:
        pitches = np.array([p for p, _ in melody], int)
        np.add.at(pcs, pitches % 12, 1)
        if len(pitches) > 1:
            np.add.at(steps, np.clip(np.diff(pitches), -12, 12) + 12, 1)
        for _, length in melody:
            lengths[int(np.argmin([abs(length - b) for b in LENGTHS]))] += 1
    return {k: h / h.sum() if h.sum() else h for k, h in
            (("pitch_class", pcs), ("interval", steps), ("note_length", lengths))}


def overlap(p: np.ndarray, q: np.ndarray) -> float:
    """Overlapping area of two normalized histograms, ``sum(min(p, q))``: 1 for equal ones, 0 for disjoint ones or
    an empty one (Yang & Lerch 2020 use the overlap of two distributions)."""
    return float(np.minimum(p, q).sum())


def kl_divergence(p: np.ndarray, q: np.ndarray, eps: float = 1e-3) -> float:
    """KL(p || q) in bits of two histograms, each smoothed by adding ``eps`` to every bin and renormalized (so that a
    bin empty in ``q`` costs a finite amount); ``p`` is the reference (test tunes), ``q`` the samples'."""
    p = (p + eps) / (p + eps).sum()
    q = (q + eps) / (q + eps).sum()
    return float((p * np.log2(p / q)).sum())


def compare(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, float]:
    """``<name>_overlap`` and ``<name>_kl`` of each histogram of :func:`histograms`, ``other`` against
    ``reference``."""
    out = {}
    for name, ref in reference.items():
        out[f"{name}_overlap"] = overlap(ref, other[name])
        out[f"{name}_kl"] = kl_divergence(ref, other[name])
    return out


def ngrams(melody: Events, n: int) -> set[tuple]:
    """The n-grams of ``(pitch, length)`` events of ``melody``."""
    return {tuple(melody[i:i + n]) for i in range(len(melody) - n + 1)}


def copied_share(melodies: Sequence[Events], training: set[tuple], n: int) -> float:
    """Share of the event n-grams of ``melodies`` (over all of them) found in ``training`` (the n-grams of every
    training tune): 0 for melodies that copy nothing, 1 for copies. 0 when the melodies have no n-gram."""
    total = copied = 0
    for melody in melodies:
        for i in range(len(melody) - n + 1):
            total += 1
            copied += tuple(melody[i:i + n]) in training
    return copied / total if total else 0.0


def distinct_ngrams(melodies: Sequence[Events], n: int) -> float:
    """Distinct event n-grams over all n-grams of ``melodies`` (distinct-n of Li et al. 2016 over events): near 0
    for melodies that repeat one figure, 1 when no n-gram repeats. 0 when there is none."""
    grams = [tuple(m[i:i + n]) for m in melodies for i in range(len(m) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def unigram_samples(counts: np.ndarray, n: int, length: int, seed: int) -> list[np.ndarray]:
    """``n`` token sequences of ``length`` drawn independently from the unigram distribution ``counts`` (token
    frequencies of the training split): the trivial baseline a sequence model must beat.

    Raises:
        ValueError: ``counts`` has no positive entry.
    """
    counts = np.asarray(counts, float)
    if counts.sum() <= 0:
        raise ValueError("unigram counts are all zero")
    rng = np.random.default_rng(seed)
    return [rng.choice(len(counts), size=length, p=counts / counts.sum()) for _ in range(n)]
