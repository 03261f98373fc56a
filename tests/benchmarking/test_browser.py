"""The report and comparison pages render in headless Chromium with their plots visible."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from memory.benchmarking.compare import compare_dirs, write_html
from memory.benchmarking.results import BenchmarkResults

from .conftest import chromium
from .planted import write_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def screenshot(page: Path, out: Path, tmp_path: Path) -> np.ndarray:
    """Render `page` in headless Chromium and return the screenshot as an RGB float array."""
    browser = chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1280,2200",
           f"--screenshot={out}", page.resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.is_file(), "chromium wrote no screenshot"
    import matplotlib.image as mpimg
    return mpimg.imread(str(out))[:, :, :3]


def color_pixels(image: np.ndarray, rgb, tolerance: float = 0.08) -> int:
    """How many pixels are within `tolerance` of colour `rgb` (0-255 ints)."""
    target = np.array(rgb, dtype=float) / 255.0
    return int((np.abs(image - target).max(axis=2) < tolerance).sum())


def test_report_page_shows_its_plots(tmp_path):
    for n, factor in enumerate((1.0, 1.2)):
        write_run(tmp_path / "results", factor, timestamp=f"2025032{n}_120000")
    report = Path(BenchmarkResults(str(tmp_path / "results")).generate_report(category="storage"))
    image = screenshot(report, tmp_path / "report.png", tmp_path)
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
