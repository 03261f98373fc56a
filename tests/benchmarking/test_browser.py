"""The report and comparison pages render in headless Chromium with their plots visible, and at
1400 px wide they read at a glance (#12, item 2): the summary first and on the first screen, no table
wider than the page, plots of at most 8 labelled series, each run's header line once."""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest

from memory.benchmarking import report
from memory.benchmarking.compare import compare_dirs, write_html
from memory.benchmarking.results import BenchmarkResults

from .conftest import chromium
from .planted import write_run
from .test_report import comparison_page, write_history

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTH, HEIGHT = 1400, 1000  # the width a reader's window has; the first screen's height

# Run in the page once it has loaded: what the layout tests assert, written into the DOM as JSON.
LAYOUT_PROBE = """<script>
addEventListener("load", () => {
  const page = document.documentElement, box = e => e.getBoundingClientRect();
  const summary = document.getElementById("summary");
  const tables = [...document.querySelectorAll("table")].map(t => {
    const holder = t.closest(".tablebox") || t;
    return {right: box(holder).right, scrolls: holder.scrollWidth > holder.clientWidth + 1};
  });
  const plots = [...document.querySelectorAll("img.plot")].map(i => ({
    alt: i.alt, right: box(i).right, series: +i.dataset.series, maxSeries: +i.dataset.maxSeries,
    panels: +i.dataset.panels, legend: i.dataset.legend}));
  const heads = [...document.querySelectorAll(".runhead")].map(p => p.textContent);
  const out = document.createElement("pre");
  out.id = "layout-probe";
  out.textContent = JSON.stringify({
    viewport: page.clientWidth, scrollWidth: page.scrollWidth, tables, plots, heads,
    firstAfterTitle: document.querySelector("h1").nextElementSibling.id,
    summaryTop: summary ? box(summary).top : null, summaryBottom: summary ? box(summary).bottom : null});
  document.body.appendChild(out);
});
</script>"""


def _browser_command(tmp_path: Path, width: int, height: int) -> List[str]:
    browser = chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'chromium-profile'}", f"--window-size={width},{height}"]


def screenshot(page: Path, out: Path, tmp_path: Path, width: int = 1280, height: int = 2200) -> np.ndarray:
    """Render `page` in headless Chromium and return the screenshot as an RGB float array."""
    cmd = _browser_command(tmp_path, width, height) + [f"--screenshot={out}", page.resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.is_file(), "chromium wrote no screenshot"
    import matplotlib.image as mpimg
    return mpimg.imread(str(out))[:, :, :3]


def layout(page: Path, tmp_path: Path, width: int = WIDTH, height: int = HEIGHT) -> Dict[str, Any]:
    """Load a copy of `page` with LAYOUT_PROBE in headless Chromium `width` px wide and return what
    the probe measured (page and table widths, plots' series, run header lines, the summary's place)."""
    probed = tmp_path / f"probed_{page.name}"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", LAYOUT_PROBE + "</body>"),
                      encoding="utf-8")
    cmd = _browser_command(tmp_path, width, height) + ["--virtual-time-budget=10000", "--dump-dom",
                                                      probed.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="layout-probe">(.*?)</pre>', proc.stdout, flags=re.S)
    assert found, f"the layout probe did not run: {proc.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def assert_reads_at_a_glance(measured: Dict[str, Any], height: int = HEIGHT) -> None:
    """No table nor plot wider than the page; the summary right after the title and within the first
    screen; plots of at most MAX_SERIES series with a legend; no run header line twice."""
    viewport = measured["viewport"]
    assert measured["scrollWidth"] <= viewport, f"the page is wider than the window: {measured['scrollWidth']}"
    wide = [t for t in measured["tables"] if t["right"] > viewport]
    assert not wide, f"{len(wide)} table(s) cut off at the page's edge"
    assert all(p["right"] <= viewport for p in measured["plots"])
    assert measured["firstAfterTitle"] == "summary"
    assert measured["summaryTop"] < 200 and measured["summaryBottom"] <= height, measured
    for plot in measured["plots"]:
        assert plot["maxSeries"] <= report.MAX_SERIES and plot["legend"] in ("yes", "axis"), plot
    assert len(measured["heads"]) == len(set(measured["heads"])), "a run's header line appears twice"


def color_pixels(image: np.ndarray, rgb, tolerance: float = 0.08) -> int:
    """How many pixels are within `tolerance` of colour `rgb` (0-255 ints)."""
    target = np.array(rgb, dtype=float) / 255.0
    return int((np.abs(image - target).max(axis=2) < tolerance).sum())


def test_report_page_shows_its_plots(tmp_path):
    for n, factor in enumerate((1.0, 1.2)):
        write_run(tmp_path / "results", factor, timestamp=f"2025032{n}_120000")
    page = Path(BenchmarkResults(str(tmp_path / "results")).generate_report(category="storage"))
    image = screenshot(page, tmp_path / "report.png", tmp_path)
    non_white = (image.min(axis=2) < 0.95).mean()
    assert non_white > 0.02, f"page looks blank ({non_white:.1%} non-white)"
    assert color_pixels(image, (31, 119, 180)) > 300, "no matplotlib line (blue) visible in the report"


def test_comparison_page_shows_its_chart(tmp_path):
    write_run(tmp_path / "baseline", 1.0)
    write_run(tmp_path / "current", 0.75)
    page = Path(write_html(compare_dirs(str(tmp_path / "current"), str(tmp_path / "baseline"), 0.1),
                           str(tmp_path / "out")))
    image = screenshot(page, tmp_path / "compare.png", tmp_path)
    assert (image.min(axis=2) < 0.95).mean() > 0.02
    assert color_pixels(image, (0xC0, 0x39, 0x2B)) > 300, "no regression bars (red) visible"


@pytest.mark.parametrize("category", ["storage", "retrieval", None], ids=["storage", "retrieval", "all"])
def test_report_reads_at_a_glance_at_1400px(tmp_path, category):
    root = write_history(tmp_path / "results")
    measured = layout(Path(report.write_report(str(root), category=category)), tmp_path)
    assert_reads_at_a_glance(measured)
    assert len(measured["heads"]) == {"storage": 2, "retrieval": 1, None: 3}[category]
    if category != "retrieval":  # 24 parameter sets of write_throughput over the runs: in panels
        history = [p for p in measured["plots"] if p["alt"] == "write_throughput: throughput_ops_per_second over runs"]
        assert history and history[0]["panels"] > 1 and history[0]["series"] > report.MAX_SERIES


def test_comparison_page_reads_at_a_glance_at_1400px(tmp_path):
    measured = layout(comparison_page(write_history(tmp_path / "results"), tmp_path / "cmp"), tmp_path)
    assert_reads_at_a_glance(measured)
    assert measured["tables"] and measured["heads"] == []
