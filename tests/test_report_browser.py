"""The HTML report in a real browser: headless Chromium, offline, shows every chart.

For each page, a first Chromium run (--dump-dom, with a small probe script in a copy of the page)
reports the page height and, for every chart, whether its SVG decoded and where it sits; a
second run takes a screenshot of the whole page. Inside each chart's box, the pixels that differ
from the box's background are the ones the chart drew, and the saturated ones are its coloured
marks. A chart that failed to load, drew nothing, or lost its colours fails the test (the
negative controls below pin that the measure can fail).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pytest

import chronik_lab as cl

PIL = pytest.importorskip("PIL.Image", reason="pillow decodes the screenshots (test extra)")

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Debian's chromium is not installed (apt-get install -y chromium; .ci/run does)",
    ),
]
ROOT = Path(__file__).resolve().parents[1]
REAL_NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
WIDTH = 1200
MIN_DRAWN = 0.01  # a chart draws at least 1% of its box (axes, marks, text); a blank one ~0
CHARTS = ".jp-RenderedSVG img, .jp-RenderedSVG svg"

# Runs at load: each chart's decoded size and box, and the page height, into a body attribute
# that --dump-dom prints.
PROBE = """<script>
window.addEventListener("load", () => {
  const charts = [...document.querySelectorAll("CHARTS")].map((el) => {
    const r = el.getBoundingClientRect();
    return {natural: el.naturalWidth === undefined ? r.width : el.naturalWidth,
            left: r.left + scrollX, top: r.top + scrollY, width: r.width, height: r.height};
  });
  document.body.setAttribute("data-probe", JSON.stringify(
    {height: document.documentElement.scrollHeight, charts: charts}));
});
</script>""".replace("CHARTS", CHARTS)


def chromium(tmp: Path, *args: str) -> str:
    """Run headless Chromium with no network and a throwaway profile; return its stdout."""
    profile = tmp / "profile"
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def with_head(html: str, extra: str) -> str:
    return html.replace("</head>", extra + "</head>", 1)


def probe(page: Path, tmp: Path) -> dict:
    copy = tmp / f"{page.stem}.probe.html"
    copy.write_text(with_head(page.read_text(), PROBE))
    dom = chromium(tmp, f"--window-size={WIDTH},2000", "--dump-dom", copy.as_uri())
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, f"the probe did not run in {page.name}"
    return json.loads(found.group(1).replace("&quot;", '"'))


def screenshot(page: Path, tmp: Path, height: int) -> np.ndarray:
    png = tmp / f"{page.stem}.png"
    chromium(tmp, f"--window-size={WIDTH},{height}", f"--screenshot={png}", page.as_uri())
    return np.asarray(PIL.open(png).convert("RGB")).astype(np.int16)


def chart_pixels(page: Path, tmp: Path) -> list[dict]:
    """Per chart on the page: whether it decoded, the share of its box it drew, and how many
    of those pixels are coloured (the palette's marks, not grey axes and text)."""
    info = probe(page, tmp)
    shot = screenshot(page, tmp, min(int(info["height"]) + 50, 16_000))
    out = []
    for c in info["charts"]:
        top, left = int(c["top"]), int(c["left"])
        box = shot[top : top + int(c["height"]), left : left + int(c["width"])].reshape(-1, 3)
        if not len(box):
            out.append({"decoded": c["natural"] > 0, "drawn": 0.0, "coloured": 0})
            continue
        # The chart's background is its most common colour; what differs from it was drawn.
        colours, counts = np.unique(box, axis=0, return_counts=True)
        background = colours[counts.argmax()]
        drawn = np.abs(box - background).max(axis=1) > 24
        coloured = drawn & ((box.max(axis=1) - box.min(axis=1)) > 60)
        out.append(
            {
                "decoded": c["natural"] > 0,
                "drawn": float(drawn.mean()),
                "coloured": int(coloured.sum()),
            }
        )
    return out


def svg_outputs(executed: Path) -> int:
    nb = nbformat.read(executed, as_version=4)
    return sum("image/svg+xml" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def assert_every_chart_shows(page: Path, executed: Path, tmp: Path) -> None:
    charts = chart_pixels(page, tmp)
    assert len(charts) == svg_outputs(executed) > 0, page.name
    for i, chart in enumerate(charts):
        assert chart["decoded"], f"{page.name}: chart {i} did not load"
        assert chart["drawn"] >= MIN_DRAWN, f"{page.name}: chart {i} drew {chart['drawn']:.2%}"
        assert chart["coloured"] > 50, f"{page.name}: chart {i} has no coloured marks"


@pytest.fixture
def standin_page(standin_report):
    """The stand-in report's first chart page (the report is built once per session)."""
    return next(nb for nb in standin_report.notebooks if nb.name == "01_chart")


def test_a_stand_in_chart_shows_in_the_browser(standin_page, tmp_path):
    assert_every_chart_shows(standin_page.html, standin_page.executed, tmp_path)


def replace_charts(page: Path, svg: str, out: Path) -> Path:
    """A copy of `page` whose chart images hold `svg` (base64) instead."""
    html = page.read_text()
    cut = re.sub(r'(src="data:image/svg\+xml;base64,)[A-Za-z0-9+/=]+"', rf'\g<1>{svg}"', html)
    assert cut != html
    out.write_text(cut)
    return out


def test_a_chart_that_cannot_load_is_caught(standin_page, tmp_path):
    broken = replace_charts(standin_page.html, "PHN2Zw", tmp_path / "broken.html")  # "<svg"
    charts = chart_pixels(broken, tmp_path)
    assert len(charts) == 1 and not charts[0]["decoded"]


def test_a_chart_that_draws_nothing_is_caught(standin_page, tmp_path):
    blank_svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="500" height="300">'
        '<rect width="500" height="300" fill="white"/></svg>'
    )
    blank = base64.b64encode(blank_svg.encode()).decode()
    charts = chart_pixels(replace_charts(standin_page.html, blank, tmp_path / "b.html"), tmp_path)
    assert len(charts) == 1 and charts[0]["decoded"]
    assert charts[0]["drawn"] < MIN_DRAWN and charts[0]["coloured"] == 0


def test_the_index_page_renders_its_summary_table(standin_page, tmp_path):
    index = standin_page.html.parent / "index.html"
    pixels = screenshot(index, tmp_path, 800)
    assert (pixels.min(axis=2) < 128).sum() > 2_000  # the table's text is on the page


@pytest.mark.skipif(not REAL_NOTEBOOKS, reason="notebooks/ has no notebooks yet")
@pytest.mark.parametrize("name", [p.stem for p in REAL_NOTEBOOKS])
def test_every_chart_of_the_real_report_shows_in_the_browser(name, real_report, tmp_path):
    nb = next(n for n in real_report.notebooks if n.name == name)
    assert nb.ok, nb.error
    assert_every_chart_shows(nb.html, nb.executed, tmp_path)


ALIGN_PROBE = """<script>
window.addEventListener("load", () => {
  const cells = [...document.querySelectorAll(".chronik-switchboard td, .chronik-switchboard th")];
  document.body.setAttribute("data-align", JSON.stringify(
    cells.map((c) => getComputedStyle(c).textAlign)));
});
</script>"""


def test_the_start_pages_switchboard_table_reads_left_aligned(real_report, tmp_path):
    """The report's CSS right-aligns table cells: the switchboard's text column was ragged
    on the left, which only the browser shows."""
    page = next(n for n in real_report.notebooks if n.name == "00_start_here").html
    copy = tmp_path / "start.probe.html"
    copy.write_text(with_head(page.read_text(), ALIGN_PROBE))
    dom = chromium(tmp_path, f"--window-size={WIDTH},2000", "--dump-dom", copy.as_uri())
    found = re.search(r'data-align="([^"]*)"', dom)
    assert found, "the probe did not run"
    aligned = json.loads(found.group(1).replace("&quot;", '"'))
    assert len(aligned) == 3 * (len(cl.BUGS) + 1)  # a header and a row per switch
    assert set(aligned) == {"left"}
