"""The plots every modality's stages write, which dvc.yaml declares: the train stage's ``train_history.csv`` (one row
per epoch), ``train_steps.csv`` (one row per logged step), ``train_loss.png`` and ``train_samples.png`` (what the
generator drew after each epoch), and the optimize stage's trade-off figure (matplotlib)."""

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


def epoch_samples_plot(samples: Sequence[tuple[int, object]], path: Path, *, empty: str) -> None:
    """A PNG of what a generator drew after each epoch, ``samples`` being ``[(epoch, sample), ...]``: images
    (``uint8 (H, W)`` or ``(H, W, C)``, such as a sample grid) side by side at their own resolution, each titled
    with its epoch; text (``str``) one monospaced block per epoch, wrapped at 100 characters. With no samples
    (none were drawn), the figure says ``empty`` instead: DVC expects the file. dvc.yaml declares it as an image
    plot, so ``dvc plots diff`` shows two revisions' samples side by side."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    if samples and not isinstance(samples[0][1], str):
        h, w = np.asarray(samples[0][1]).shape[:2]
        fig, axes = plt.subplots(1, len(samples), figsize=(len(samples) * w / 100, h / 100 + 0.4), squeeze=False)
        for ax, (epoch, image) in zip(axes[0], samples, strict=True):
            ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_title(f"epoch {epoch}", fontsize=10)
            ax.axis("off")
        fig.subplots_adjust(left=0, right=1, bottom=0, top=1 - 0.4 / (h / 100 + 0.4), wspace=0.02)
    else:
        blocks = [f"epoch {epoch}\n" + "\n".join(textwrap.wrap(str(text), 100, replace_whitespace=True))
                  for epoch, text in samples] or [empty]
        lines = sum(block.count("\n") + 2 for block in blocks)
        fig = plt.figure(figsize=(8.5, 0.5 + 0.16 * lines))
        fig.text(0.01, 0.99, "\n\n".join(blocks), family="monospace", fontsize=8, va="top")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


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
