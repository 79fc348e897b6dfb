"""Figures of the audio report (matplotlib, Agg backend): a melody's piano roll and the histograms of the samples
beside the test tunes'."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np

from genforge.audio.music import Events

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def piano_roll_png(melody: Events, title: str) -> bytes:
    """A PNG of ``melody`` as a piano roll: one bar per note, time in quarter notes across, MIDI pitch up."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 2.2))
    start = 0.0
    for pitch, length in melody:
        ax.broken_barh([(start, length)], (pitch - 0.4, 0.8), color="#3465a4")
        start += length
    ax.set_xlabel("quarter notes")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(title, fontsize=9)
    ax.set_xlim(0, max(start, 1))
    return _png(fig)


def histograms_png(series: Mapping[str, Mapping[str, Sequence[float]]]) -> bytes:
    """A PNG of three panels (pitch class, interval, note length), one group of bars per entry of ``series``
    (``{"test tunes": histograms, "model": ..., ...}``, each :func:`genforge.audio.music.histograms`)."""
    plt = _pyplot()
    names = ("pitch_class", "interval", "note_length")
    fig, axes = plt.subplots(1, 3, figsize=(13, 2.8))
    width = 0.8 / max(len(series), 1)
    for ax, name in zip(axes, names, strict=True):
        for i, (label, hists) in enumerate(series.items()):
            h = np.asarray(hists[name])
            ax.bar(np.arange(len(h)) + i * width - 0.4 + width / 2, h, width, label=label)
        ax.set_title(name.replace("_", " "), fontsize=9)
    axes[0].set_xticks(range(12), PITCH_CLASSES, fontsize=7)
    axes[1].set_xticks(range(0, 25, 4), [str(x) for x in range(-12, 13, 4)], fontsize=7)
    axes[1].set_xlabel("semitones")
    axes[2].set_xlabel("length bin (1/8 .. 4 quarter notes)")
    axes[0].legend(fontsize=7)
    return _png(fig)
