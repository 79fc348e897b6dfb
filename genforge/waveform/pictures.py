"""The figure of the waveform report (matplotlib, Agg backend): a clip's log-mel spectrogram."""

from __future__ import annotations

import io

import numpy as np


def log_mel_png(frames: np.ndarray, hop_seconds: float, title: str) -> bytes:
    """A PNG of log-mel frames (``float (frames, bands)``, :func:`genforge.waveform.spectral.log_mel`): time in
    seconds across, mel band up, natural-log energy as colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 2.2))
    image = ax.imshow(frames.T, origin="lower", aspect="auto", cmap="magma",
                      extent=(0, len(frames) * hop_seconds, 0, frames.shape[1]))
    fig.colorbar(image, ax=ax, label="ln energy")
    ax.set_xlabel("seconds")
    ax.set_ylabel("mel band")
    ax.set_title(title, fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
