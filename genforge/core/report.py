"""The report's index: one row per generator (gate, headline metric, registry decision, champion), as an HTML page
beside the generators' own pages and as Markdown for the Prefect artifact."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any


def index_row(name: str, modality: str, registration: Mapping[str, Any], page: str) -> dict[str, Any]:
    """One generator's row from its ``register.json`` record (:func:`genforge.core.tracking.promote`'s decision)
    and the relative link ``page`` to its report page."""
    return {"generator": name, "modality": modality, "model": registration["model_name"],
            "version": registration["version"], "gate": "passed" if registration["gate_passed"] else "failed",
            "metric": registration["metric"], "value": registration["value"],
            "aliases": ", ".join(registration["aliases"]) or "none",
            "champion": registration.get("champion_version"), "decision": registration["decision"], "page": page}


def not_run_row(name: str, modality: str) -> dict[str, Any]:
    """The row of a generator that no run has registered yet."""
    return {"generator": name, "modality": modality, "model": f"genforge-{name}", "version": None,
            "gate": "not run", "metric": None, "value": None, "aliases": "none", "champion": None,
            "decision": "not run yet", "page": ""}


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else "–" if value is None else str(value)


COLUMNS = ("generator", "modality", "gate", "metric", "value", "version", "aliases", "champion", "decision")


def index_html(rows: Sequence[Mapping[str, Any]], title: str) -> str:
    """A self-contained HTML page (no scripts, nothing fetched) with a table of ``rows`` and a link to each page."""
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    body = []
    for row in rows:
        name = html.escape(row["generator"])
        cells = [f'<td><a href="{html.escape(row["page"])}">{name}</a></td>' if row["page"] else f"<td>{name}</td>"]
        cells += [f'<td class="{c}-{html.escape(_fmt(row[c]))}">{html.escape(_fmt(row[c]))}</td>' for c in COLUMNS[1:]]
        body.append("<tr>" + "".join(cells) + "</tr>")
    style = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.gate-failed{color:#b00}"
             ".gate-passed{color:#070}")
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></body></html>\n")


def index_markdown(rows: Sequence[Mapping[str, Any]], index_path: str,
                   links: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """The same table in Markdown, for the flow's Prefect artifact, with a column ``mlflow`` of links to each
    generator's MLflow run and registered version (``links[generator]``: ``{"run": url, "version": url}``, from
    :func:`genforge.core.tracking.run_links`), and the report's local path."""
    links = links or {}
    lines = ["| " + " | ".join((*COLUMNS, "mlflow")) + " |", "|" + " --- |" * (len(COLUMNS) + 1)]
    for row in rows:
        found = links.get(row["generator"], {})
        cell = " · ".join(f"[{label}]({found[key]})" for key, label in
                          (("run", "run"), ("version", f"version {row['version']}")) if key in found) or "–"
        lines.append("| " + " | ".join([*(_fmt(row[c]).replace("|", "/") for c in COLUMNS), cell]) + " |")
    return "\n".join([*lines, "", f"Report (on the machine that ran the flow): `{index_path}`"])


PAGE_STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}table{border-collapse:collapse;"
              "margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}"
              "td:first-child,th:first-child{text-align:left}img{image-rendering:pixelated}")


def html_cell(value: Any) -> str:
    """A table cell's text: a float to 4 significant digits, anything else as ``str``; escaped."""
    return f"{value:.4g}" if isinstance(value, float) else html.escape(str(value))


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table of ``rows`` under ``header`` (:func:`html_cell`)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def html_img(data: str, kind: str, alt: str, width: int) -> str:
    """An ``<img>`` of base64 ``data`` of type ``image/<kind>`` (embedded: the page stays self-contained)."""
    return f'<img alt="{html.escape(alt)}" width="{width}" src="data:image/{kind};base64,{data}">'


def html_page(heading: str, parts: Sequence[str]) -> str:
    """A complete generator page: ``heading`` as title and ``<h1>``, then ``parts`` (HTML), with
    :data:`PAGE_STYLE`."""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(heading)}</title>"
            f"<style>{PAGE_STYLE}</style></head><body><h1>{html.escape(heading)}</h1>{''.join(parts)}</body></html>")
