"""The plots every modality's stages write, which dvc.yaml declares: the train stage's ``train_history.csv`` (one row
per epoch), ``train_steps.csv`` (one row per logged step) and ``train_loss.png``, and the optimize stage's trade-off
figure (matplotlib)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from genforge.core.files import atomic_path


def curves_plot(history: Sequence[dict], series: Sequence[tuple[str, str]], ylabel: str, path: Path) -> None:
    """A PNG (100 dpi, 6x4 in) of each ``(key, label)`` of ``series`` over the epochs of ``history`` (rows with
    ``epoch``); keys a row lacks are left out. Empty axes for an empty history (DVC expects the file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in series:
        rows = [h for h in history if h.get(key) is not None]
        if rows:
            ax.plot([h["epoch"] for h in rows], [h[key] for h in rows], marker="o", label=label)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def write_curves(folder: Path, history: Sequence[dict], step_losses: Sequence[tuple[int, float]],
                 columns: Sequence[str], series: Sequence[tuple[str, str]], ylabel: str) -> None:
    """Write ``folder/train_history.csv`` (``columns`` of each epoch row; others ignored, missing ones empty),
    ``folder/train_steps.csv`` (``step, loss``) and ``folder/train_loss.png`` (:func:`curves_plot`), atomically."""
    with atomic_path(folder / "train_history.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(history)
    with atomic_path(folder / "train_steps.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "loss"])
        writer.writerows(step_losses)
    curves_plot(history, series, ylabel, folder / "train_loss.png")


def tradeoff_plot(rows: Sequence[dict], y: str, ylabel: str, latency_label: str, path: Path) -> None:
    """A PNG of two scatter plots of the optimize stage's variants (rows with ``variant``, ``size_bytes``,
    ``latency_ms_p50`` and ``y``): ``y`` against file size and against latency, both on log scales."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, x, label in ((axes[0], "size_bytes", "file size (bytes, log scale)"),
                         (axes[1], "latency_ms_p50", latency_label)):
        for row in rows:
            ax.scatter(row[x], row[y])
            ax.annotate(row["variant"], (row[x], row[y]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    fig.suptitle(f"optimize: size, latency and {ylabel} of each variant")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
