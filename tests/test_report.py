"""The HTML report: self-contained, every figure traceable to its metric, copied spans marked."""

import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from genforge.text.report import highlight, render_report


class Figures(HTMLParser):
    """Collects ``data-metric -> data-value`` pairs, the text of <mark> elements and external references."""

    def __init__(self):
        super().__init__()
        self.figures, self.marks, self.refs, self.tags = {}, [], [], set()
        self._in_mark = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if "data-metric" in a:
            self.figures[a["data-metric"]] = a["data-value"]
        self.refs += [v for k, v in a.items() if k in ("src", "href") and v]
        self._in_mark = tag == "mark"

    def handle_endtag(self, tag):
        self._in_mark = self._in_mark and tag != "mark"

    def handle_data(self, data):
        if self._in_mark:
            self.marks.append(data)


def parse(html: str) -> Figures:
    f = Figures()
    f.feed(html)
    return f


SHOWN = ("size_bytes", "latency_ms_p50", "bits_per_unit", "bits_change_pct", "size_ratio", "speedup")


def mlflow_figures(evaluation: dict, optimization: dict) -> dict:
    """evaluate.json's and optimize.json's figures in the report under the MLflow keys their stages log them with."""
    flat = {f"test/{k}": v for k, v in evaluation.items() if not isinstance(v, dict)}
    flat |= {f"optimize/{name}/{k}": row[k] for name, row in optimization["variants"].items() for k in SHOWN}
    return flat | {f"{sec}/{k}": v for sec in ("samples", "reference", "stability", "efficiency", "adaptability")
                   for k, v in evaluation[sec].items()}


EVALUATION = {
    "bits_per_character": 2.2806280371807617, "cross_entropy": 1.5808, "perplexity": 4.8589, "accuracy": 0.5257,
    "top5_accuracy": 0.81, "tokens": 560490,
    "samples": {"distinct_2": 0.72, "self_bleu_4": 0.31}, "reference": {"distinct_2": 0.99, "self_bleu_4": 0.05},
    "stability": {"nonfinite_losses": 0, "same_seed_identical": True}, "efficiency": {"parameters": 287000},
    "adaptability": {},
    "gate": {"passed": False, "reasons": ["samples.distinct_2 0.72 is not >= 0.8"],
             "checks": [{"check": "min_distinct_2", "metric": "samples.distinct_2", "value": 0.72, "op": ">=",
                         "threshold": 0.8, "passed": False}]},
}
OPTIMIZATION = {"method": "int8", "model_file": "model.int8.npz",
                "prune": {"sparsity_target": 0.5, "sparsity": {"total": 0.5}},
                "variants": {
                    "dense": {"file": "model.keras", "size_bytes": 1400000, "latency_ms_p50": 1.5,
                              "bits_per_unit": 2.35, "bits_change_pct": 0.0, "size_ratio": 1.0, "speedup": 1.0},
                    "litert_int8": {"file": "model_int8.tflite", "size_bytes": 390000, "latency_ms_p50": 0.033,
                                    "bits_per_unit": 2.36, "bits_change_pct": 0.43, "size_ratio": 3.59,
                                    "speedup": 45.5},
                }}
REGISTRATION = {"model_name": "genforge-text", "version": 7, "run_id": "abc123", "aliases": [],
                "decision": "no alias: the gate failed: samples.distinct_2 0.72 is not >= 0.8",
                "previous_champion": 3, "previous_metrics": {"bits_per_character": 2.31}}
SAMPLES = {"prompt": "ROMEO:", "samples": [
    {"kind": "shown", "temperature": 0.0, "seed": 1, "text": "<b>I will & go</b>", "copied_start": 5,
     "copied_length": 6}]}


def render() -> str:
    return render_report(evaluation=EVALUATION, registration=REGISTRATION, training={"seconds": 600.0, "epochs": 4},
                         optimization=OPTIMIZATION,
                         samples=SAMPLES, history=[{"epoch": "1", "loss": "2.0", "val_loss": "1.9"}],
                         steps=[2.5, 2.1, 1.9], title="t")


def test_highlight_cuts_around_the_span():
    assert highlight("abcdef", 0, 6) == [("abcdef", True)]
    assert highlight("abcdef", 0, 0) == [("abcdef", False)]


def test_every_figure_is_traceable_and_the_page_is_self_contained():
    html = render()
    f = parse(html)
    assert float(f.figures["test/bits_per_character"]) == EVALUATION["bits_per_character"]  # exact, not rounded
    assert float(f.figures["samples/self_bleu_4"]) == 0.31 and float(f.figures["reference/distinct_2"]) == 0.99
    assert f.figures["stability/same_seed_identical"] == "1.0" and f.figures["efficiency/parameters"] == "287000.0"
    assert f.refs == [] and "script" not in f.tags and "svg" in f.tags  # nothing fetched, nothing run; curves inline
    assert f.marks == ["will &"]  # the copied span, with the sample's markup escaped, not interpreted
    assert "&lt;b&gt;I " in html and "FAILED" in html and "samples.distinct_2 0.72 is not &gt;= 0.8" in html
    assert "2.31" in html  # the previous champion's figure beside this model's
    assert float(f.figures["optimize/litert_int8/size_ratio"]) == 3.59 and "model_int8.tflite" in html


def test_report_without_pruning_says_nothing_of_it():
    unpruned = {**OPTIMIZATION, "prune": {"sparsity_target": 0.0}}
    html = render_report(evaluation=EVALUATION, registration=REGISTRATION, training={"seconds": 1.0, "epochs": 1},
                         optimization=unpruned, samples=SAMPLES, history=[], steps=[], title="t")
    assert "pruned to" not in html and "model.int8.npz" in html


def test_index_lists_every_generator_with_its_gate_and_decision():
    from genforge.core.report import index_html, index_markdown, index_row, not_run_row

    registration = {**REGISTRATION, "gate_passed": False, "metric": "bits_per_character", "value": 2.281,
                    "champion_version": 3}
    rows = [index_row("plays-char-lstm", "text", registration, "plays-char-lstm.html"),
            not_run_row("plays-byte-gpt", "text")]
    page = parse(index_html(rows, "GenForge <evaluation>"))
    assert page.refs == ["plays-char-lstm.html"] and "script" not in page.tags  # a relative link, nothing fetched
    html = index_html(rows, "GenForge <evaluation>")
    assert '<a href="plays-char-lstm.html">plays-char-lstm</a>' in html and "GenForge &lt;evaluation&gt;" in html
    assert '<td class="gate-failed">failed</td>' in html and "<td>plays-byte-gpt</td>" in html
    links = {"plays-char-lstm": {"run": "http://h:5000/#/experiments/1/runs/abc",
                                 "version": "http://h:5000/#/models/genforge-plays-char-lstm/versions/7"}}
    md = index_markdown(rows, "/r/index.html", links)
    assert ("| plays-char-lstm | text | failed | bits_per_character | 2.281 | 7 | none | 3 | no alias: the gate "
            "failed: samples.distinct_2 0.72 is not >= 0.8 | [run](http://h:5000/#/experiments/1/runs/abc) · "
            "[version 7](http://h:5000/#/models/genforge-plays-char-lstm/versions/7) |") in md
    assert "| plays-byte-gpt | text | not run | – | – | – | none | – | not run yet | – |" in md
    assert "file://" not in md and "`/r/index.html`" in md


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium is not installed (apt-get install "
                    "chromium); docs/report.png is the documented check")
def test_report_renders_offline_in_headless_chromium(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render(), encoding="utf-8")
    proc = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120, check=True)
    dom = proc.stdout
    assert 'data-metric="test/bits_per_character"' in dom and "<mark" in dom and "FAILED" in dom


def test_the_committed_reports_show_the_committed_metrics():
    """reports/<generator>.html and metrics/<generator>/evaluate.json of the last `dvc repro` (both in git) agree
    figure by figure, for every generator of params.yaml (an image generator: its scores, floor and ceiling; a video
    generator: its per-horizon table and means; an image-to-image generator: its scores beside its baselines'; an
    audio generator: its sample measures beside the unigram's and the real tunes'; a waveform generator: bits per
    sample and the log-mel distances beside its baselines')."""
    import json
    from pathlib import Path

    import yaml

    from genforge.core.report import html_cell
    from genforge.image.stages.report import SCORES, _fmt

    repo = Path(__file__).resolve().parents[1]
    generators = yaml.safe_load((repo / "params.yaml").read_text())["generators"]
    for name, gen in generators.items():
        ev = json.loads((repo / f"metrics/{name}/evaluate.json").read_text())
        if gen["modality"] == "video":
            from genforge.video.stages.report import _horizon_rows

            page = (repo / f"reports/{name}.html").read_text(encoding="utf-8")
            cells = [f"<td>{html_cell(v)}</td>" for row in _horizon_rows(ev) for v in row]
            cells += [f"<td>{html_cell(ev[key])}</td>" for key in ("ssim_mean", "psnr_mean", "mse_mean")]
            assert all(cell in page for cell in cells), name
            continue
        if gen["modality"] == "image2image":
            from genforge.image2image.stages.report import SCORES as TRANSLATION_SCORES

            page = (repo / f"reports/{name}.html").read_text(encoding="utf-8")
            cells = [f"<td>{html_cell(part[key])}</td>" for key in TRANSLATION_SCORES
                     for part in (ev, *ev["baselines"].values()) if key in part]
            assert len(cells) >= 15 and all(cell in page for cell in cells), name  # noqa: PLR2004
            continue
        if gen["modality"] == "audio":
            from genforge.audio.stages.report import MEASURES

            page = (repo / f"reports/{name}.html").read_text(encoding="utf-8")
            cells = [f"<td>{html_cell(part[key])}</td>" for key in MEASURES
                     for part in (ev["samples"], *ev["baselines"].values()) if key in part]
            assert len(cells) == 20 and all(cell in page for cell in cells), name  # noqa: PLR2004
            assert f"{ev['bits_per_character']:.4f}" in page, name
            continue
        if gen["modality"] == "waveform":
            page = (repo / f"reports/{name}.html").read_text(encoding="utf-8")
            cells = [f"<td>{html_cell(v)}</td>" for v in (ev["bits_per_sample"], *ev["baselines"].values(),
                                                          *(s[k] for s in ev["spectral"].values() for k in s))]
            assert len(cells) == 10 and all(cell in page for cell in cells), name  # noqa: PLR2004
            continue
        if gen["modality"] == "image":
            page = (repo / f"reports/{name}.html").read_text(encoding="utf-8")
            cells = [f"<td>{_fmt(part[key])}</td>" for key, _, _ in SCORES for part in (ev, ev["floor"], ev["ceiling"])]
            assert all(cell in page for cell in cells), name
            continue
        figures = parse((repo / f"reports/{name}.html").read_text(encoding="utf-8")).figures
        flat = mlflow_figures(ev, json.loads((repo / f"metrics/{name}/optimize.json").read_text()))
        assert set(figures) == set(flat), name
        assert all(float(figures[k]) == float(v) for k, v in flat.items()), name


def test_the_page_says_what_was_trained_and_when_adaptation_hurt():
    about = {"generator": "plays-char-lstm", "modality": "text", "architecture": "LSTM: embedding 64, 1 x 224 units",
             "parameters": 282064, "steps": 2400, "epochs": 3, "data": "plays", "data_md5": "d41d8cd9",
             "commit": "0123abc", "written": "2026-12-02 19:00 UTC",
             "links": {"run": "http://127.0.0.1:5000/#/experiments/1/runs/abc123",
                       "version": "http://127.0.0.1:5000/#/models/genforge-text/versions/7"}}
    hurt = {**EVALUATION, "adaptability": {"loss_before": 1.662, "loss_after": 1.697, "gain_over_fresh": 0.7}}
    html = render_report(evaluation=hurt, registration=REGISTRATION, training={"seconds": 1.0, "epochs": 3},
                         optimization=OPTIMIZATION, samples=SAMPLES, history=[], steps=[], title="t", about=about)
    for text in ("plays-char-lstm (text)", "LSTM: embedding 64, 1 x 224 units, 282,064 parameters",
                 "2,400 steps in 3 epoch(s)", "<code>d41d8cd9</code>", "<code>0123abc</code>",
                 '<a href="http://127.0.0.1:5000/#/experiments/1/runs/abc123">the run</a>',
                 "Adaptation hurt: the fine-tune raised the held-out domain's loss from 1.662 to 1.697"):
        assert text in html, text
    helped = {**hurt, "adaptability": {"loss_before": 1.7, "loss_after": 1.6, "gain_over_fresh": 0.7}}
    html = render_report(evaluation=helped, registration=REGISTRATION, training={"seconds": 1.0, "epochs": 3},
                         optimization=OPTIMIZATION, samples=SAMPLES, history=[], steps=[], title="t", about=about)
    assert "Adaptation hurt" not in html
