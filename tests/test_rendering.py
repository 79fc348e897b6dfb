"""The committed report and `dvc plots show` draw their plots in headless Chromium with the network cut off."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DVC = str(Path(sys.executable).with_name("dvc"))
needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None,
                                    reason="headless Chromium is not installed (apt-get install chromium)")


def screenshot(page: Path, out: Path, size=(1200, 3000)) -> np.ndarray:
    """``page`` as Chromium draws it offline (every request but file:// goes to a closed port), ``uint8 (H, W, 3)``."""
    from PIL import Image

    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                    f"--window-size={size[0]},{size[1]}", "--virtual-time-budget=10000", f"--screenshot={out}",
                    page.as_uri()], capture_output=True, timeout=180, check=True)
    return np.asarray(Image.open(out).convert("RGB"))


def pixels_of(image: np.ndarray, hex_color: str, tolerance: int = 12) -> int:
    """How many pixels are within ``tolerance`` (per channel) of ``#rrggbb``."""
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image.astype(int) - rgb) <= tolerance).all(axis=-1).sum())


def generators() -> list[str]:
    return list(yaml.safe_load((REPO / "params.yaml").read_text())["generators"])


@needs_chromium
def test_the_committed_report_draws_its_loss_curves_offline(tmp_path):
    image = screenshot(REPO / f"reports/{generators()[0]}.html", tmp_path / "report.png")
    # matplotlib's second and third line colours: the epoch-mean train loss and the val loss (the first, the
    # per-step loss, is drawn thin and half transparent)
    assert pixels_of(image, "#ff7f0e") > 100 and pixels_of(image, "#2ca02c") > 100


def test_every_dvc_plot_declares_its_axes():
    out = subprocess.run([DVC, "plots", "show", "--json"], cwd=REPO, capture_output=True, text=True, timeout=120,
                         check=True).stdout
    axes = {}
    for path, plots in json.loads(out)["data"].items():
        for plot in plots:
            if plot["type"] == "vega":
                spec = plot["content"]
                y = (spec["layer"][0]["encoding"] if "layer" in spec else spec["encoding"])["y"]["field"]
                axes[Path(path).name] = (spec["encoding"]["x"]["field"], y, spec["title"]["text"])
    assert axes["train_history.csv"][:2] == ("epoch", "val_loss")
    assert axes["train_steps.csv"][:2] == ("step", "loss")
    assert axes["optimize_tradeoff.csv"][:2] == ("size_bytes", "test_score")
    assert all(title for _, _, title in axes.values())


def test_the_offline_template_inlines_the_pinned_vega_builds():
    proc = subprocess.run([sys.executable, "tools/vega_template.py", "--check"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@needs_chromium
def test_dvc_plots_draw_offline_with_the_shipped_template_and_not_with_dvcs_own(tmp_path):
    from dvc_render.html import PAGE_HTML

    def drawn(name: str, *options: str) -> int:
        out = tmp_path / name
        subprocess.run([DVC, "plots", "show", "--out", str(out), *options], cwd=REPO, capture_output=True,
                       timeout=120, check=True)
        return pixels_of(screenshot(out / "index.html", tmp_path / f"{name}.png", (1400, 4000)), "#945dd6")

    dvc_page = tmp_path / "dvc_page.html"
    dvc_page.write_text(PAGE_HTML)  # DVC's own page: its {scripts} load Vega from a CDN
    # "workspace" lines and points are drawn in #945dd6; .dvc/config names the shipped template
    # (plots.html_template), so a plain `dvc plots show` uses it
    assert drawn("shipped") > 200
    assert drawn("dvc", "--html-template", str(dvc_page)) == 0  # blank offline
