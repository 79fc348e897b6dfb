"""The evaluation report: one self-contained HTML file (inline CSS and SVG, no scripts, nothing fetched) built with a
Jinja2 template from the metric files the stages wrote."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

TEMPLATE = "report.html.j2"

# rows of the accuracy table: evaluate.json key -> label (lower is better for the first three)
ACCURACY_ROWS = {
    "bits_per_character": "bits per character",
    "bits_per_byte": "bits per byte (UTF-8)",
    "cross_entropy": "cross-entropy (nats/token)",
    "perplexity": "perplexity",
    "accuracy": "top-1 next-token accuracy",
    "top5_accuracy": "top-5 next-token accuracy",
    "tokens": "test tokens scored",
}


def highlight(text: str, start: int, length: int) -> list[tuple[str, bool]]:
    """``text`` cut into ``(piece, copied)`` parts, the span ``[start, start + length)`` marked as copied.

    >>> highlight("abcdef", 2, 3)
    [('ab', False), ('cde', True), ('f', False)]
    """
    parts = [(text[:start], False), (text[start:start + length], True), (text[start + length:], False)]
    return [p for p in parts if p[0]]


def loss_curves_svg(history: Sequence[Mapping[str, Any]], steps: Sequence[float]) -> str:
    """An inline SVG of the training curves: per-step training loss (thin) and per-epoch train / val loss
    (markers), cross-entropy in nats/token. Empty string when there is nothing to plot."""
    if not history and not steps:
        return ""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_epoch = len(steps) / len(history) if history else 1
    fig, ax = plt.subplots(figsize=(7, 3.6))
    if steps:
        x = [(i + 1) / per_epoch for i in range(len(steps))]
        ax.plot(x, steps, lw=0.6, alpha=0.6, label="train loss, per step")
    if history:
        epochs = [float(h["epoch"]) for h in history]
        ax.plot(epochs, [float(h["loss"]) for h in history], marker="o", label="train loss, epoch mean")
        ax.plot(epochs, [float(h["val_loss"]) for h in history], marker="s", label="val loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]  # drop the XML prolog and doctype: the SVG is inlined in HTML


def render_report(*, evaluation: Mapping[str, Any], registration: Mapping[str, Any], training: Mapping[str, Any],
                  optimization: Mapping[str, Any], samples: Mapping[str, Any], history: Sequence[Mapping[str, Any]],
                  steps: Sequence[float], title: str, about: Mapping[str, Any] | None = None) -> str:
    """The report as one HTML document.

    Args:
        evaluation: metrics/evaluate.json; registration: metrics/register.json; training: metrics/train.json;
        optimization: metrics/optimize.json; samples: reports/samples.json; history: the rows of
        metrics/train_history.csv; steps: the per-step losses of metrics/train_steps.csv.
        title: the page title.
        about: what was trained (:func:`genforge.text.stages.report.about`), shown first; ``None`` leaves it out.

    Every figure is printed in an element carrying ``data-metric`` (its MLflow key, such as
    ``test/bits_per_character``) and ``data-value`` (the exact value as MLflow stores it: ``repr`` of the float,
    booleans as 1.0 / 0.0), so the report can be checked against evaluate.json and the MLflow run.
    """
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("genforge.text", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined)
    env.filters["fmt"] = _fmt
    env.filters["number"] = _number
    previous = registration.get("previous_metrics") or {}
    accuracy = [{"key": k, "label": label, "value": evaluation[k], "champion": previous.get(k)}
                for k, label in ACCURACY_ROWS.items() if k in evaluation]
    shown = [{**s, "parts": highlight(s["text"], s["copied_start"], s["copied_length"])}
             for s in samples["samples"]]
    return env.get_template(TEMPLATE).render(
        title=title, about=about, evaluation=evaluation, registration=registration, training=training,
        optimization=optimization, accuracy=accuracy, prompt=samples["prompt"], samples=shown,
        curves=loss_curves_svg(history, steps),
        sections={name: evaluation.get(name) or {} for name in ("stability", "efficiency", "adaptability")},
        creativity=[{"key": k, "value": v, "reference": evaluation["reference"].get(k)}
                    for k, v in evaluation["samples"].items()],
    )


def _number(value: Any) -> str:
    """The exact float MLflow logs for a figure (``repr``; booleans as 1.0 / 0.0); other values as text."""
    return repr(float(value)) if isinstance(value, (bool, int, float)) else str(value)


def _fmt(value: Any) -> str:
    """Four significant digits for floats, thousands separators for large numbers, yes/no for booleans."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"
    return "–" if value is None else str(value)
