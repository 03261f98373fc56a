"""Baseline comparison: match two result directories by category, benchmark and parameter path, and
classify each metric's change as regression, improvement, noise or unchanged.

A change is a regression when the metric is worse (by its direction, see
:func:`memory.benchmarking.naming.metric_direction`) by more than `threshold` AND, where both runs carry
asv's 99% confidence intervals, the intervals do not overlap. Exit codes: 0 none, 2 regression,
1 error (see :func:`run_compare`).
"""

from __future__ import annotations

import datetime as _dt
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import htmlpage, naming
from .documents import canonical_path, find_documents, metric_rows, metric_stats

EXIT_OK, EXIT_ERROR, EXIT_REGRESSION = 0, 1, 2


class CompareError(Exception):
    """The comparison cannot be made (missing directory, no results, nothing in common)."""


@dataclass
class MetricChange:
    """One metric at one parameter path of one benchmark, baseline against current."""

    category: str
    benchmark: str
    path: str
    metric: str
    baseline: float
    current: float
    direction: int  # +1 higher is better, -1 lower is better
    change: float  # relative change (current - baseline) / |baseline|
    status: str  # regression | improvement | noise | unchanged
    ci_overlap: Optional[bool] = None

    @property
    def change_percent(self) -> float:
        """The relative change in percent."""
        return self.change * 100.0


@dataclass
class Comparison:
    """Everything compared, with the settings used."""

    current_dir: str
    baseline_dir: str
    threshold: float
    changes: List[MetricChange] = field(default_factory=list)
    only_current: List[str] = field(default_factory=list)
    only_baseline: List[str] = field(default_factory=list)

    def of_status(self, status: str) -> List[MetricChange]:
        """Changes with the given status."""
        return [c for c in self.changes if c.status == status]

    @property
    def regressions(self) -> List[MetricChange]:
        """Metrics that got worse beyond threshold and noise."""
        return self.of_status("regression")

    @property
    def improvements(self) -> List[MetricChange]:
        """Metrics that got better beyond threshold and noise."""
        return self.of_status("improvement")

    @property
    def exit_code(self) -> int:
        """2 when there is a regression, else 0."""
        return EXIT_REGRESSION if self.regressions else EXIT_OK


def _overlap(a: Any, b: Any) -> Optional[bool]:
    if not (isinstance(a, list) and isinstance(b, list) and len(a) == 2 and len(b) == 2
            and all(naming.is_finite(x) for x in a + b)):
        return None
    return min(a) <= max(b) and min(b) <= max(a)


def classify(baseline: float, current: float, direction: int, threshold: float,
             baseline_ci: Any = None, current_ci: Any = None) -> Tuple[str, float, Optional[bool]]:
    """(status, relative change, CI overlap) of one metric pair; see the module docstring."""
    if baseline == current:
        return "unchanged", 0.0, _overlap(baseline_ci, current_ci)
    change = (current - baseline) / abs(baseline) if baseline != 0 else math.copysign(math.inf, current - baseline)
    better = change * direction  # > 0: better, < 0: worse
    overlap = _overlap(baseline_ci, current_ci)
    if abs(better) <= threshold:
        return "unchanged", change, overlap
    if overlap:
        return "noise", change, overlap
    return ("improvement" if better > 0 else "regression"), change, overlap


def _latest(root: str) -> Dict[Tuple[str, str], Dict[str, Any]]:
    latest: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for _, doc in find_documents(root):  # oldest first: later runs replace earlier ones
        latest[(doc["category"], doc["benchmark"])] = doc
    return latest


def compare_dirs(current_dir: str, baseline_dir: str, threshold: float = 0.1) -> Comparison:
    """Compare the latest run of each benchmark in `current_dir` with the one in `baseline_dir`.

    Raises CompareError for a missing or empty directory, or when nothing is comparable."""
    if not naming.is_finite(threshold) or threshold < 0:
        raise CompareError(f"--threshold must be a number >= 0; got {threshold!r}")
    for label, folder in (("current", current_dir), ("baseline", baseline_dir)):
        if not Path(folder).is_dir():
            raise CompareError(f"{label} directory not found: {folder}")
    current, baseline = _latest(current_dir), _latest(baseline_dir)
    for label, folder, docs in (("current", current_dir, current), ("baseline", baseline_dir, baseline)):
        if not docs:
            raise CompareError(f"no benchmark results in {label} directory {folder}")
    result = Comparison(current_dir=str(current_dir), baseline_dir=str(baseline_dir), threshold=threshold)
    result.only_current = sorted("/".join(k) for k in current.keys() - baseline.keys())
    result.only_baseline = sorted("/".join(k) for k in baseline.keys() - current.keys())
    for key in sorted(current.keys() & baseline.keys()):
        cur_doc, base_doc = current[key], baseline[key]
        overrides = (cur_doc.get("metadata") or {}).get("metric_directions") or {}
        base_values = {(canonical_path(base_doc, p), m): (p, v) for p, m, v in metric_rows(base_doc)}
        for path, metric, value in metric_rows(cur_doc):
            found = base_values.get((canonical_path(cur_doc, path), metric))
            if found is None:
                continue
            base_path, old = found
            direction = overrides.get(metric) if isinstance(overrides, dict) and overrides.get(metric) in (1, -1) \
                else naming.metric_direction(metric)
            if direction == 0:
                continue
            status, change, overlap = classify(
                old, value, direction, threshold,
                metric_stats(base_doc, base_path, metric).get("ci_99"),
                metric_stats(cur_doc, path, metric).get("ci_99"))
            result.changes.append(MetricChange(key[0], key[1], path, metric, old, value, direction, change,
                                               status, overlap))
    if not result.changes:
        raise CompareError(f"nothing comparable between {current_dir} and {baseline_dir}: no benchmark, "
                           "parameter and metric appears in both")
    return result


def _rows(changes: Sequence[MetricChange]) -> List[List[Any]]:
    return [[c.status, f"{c.category}/{c.benchmark}", c.path or "-", c.metric,
             "higher" if c.direction > 0 else "lower", c.baseline, c.current, f"{c.change_percent:+.1f}%",
             "-" if c.ci_overlap is None else ("yes" if c.ci_overlap else "no")] for c in changes]


_HEADERS = ["status", "benchmark", "parameters", "metric", "better", "baseline", "current", "change",
            "CI overlap"]


def format_table(comparison: Comparison) -> str:
    """A plain-text table of regressions and improvements plus a one-line summary."""
    shown = comparison.regressions + comparison.improvements
    lines: List[str] = []
    if shown:
        rows = [[str(x) if not isinstance(x, float) else htmlpage.fmt_number(x) for x in row]
                for row in _rows(shown)]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(_HEADERS)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(_HEADERS, widths)))
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    counts = {s: len(comparison.of_status(s)) for s in ("regression", "improvement", "noise", "unchanged")}
    lines.append(f"compared {len(comparison.changes)} metrics (threshold {comparison.threshold:.0%}): "
                 f"{counts['regression']} regression(s), {counts['improvement']} improvement(s), "
                 f"{counts['noise']} within noise, {counts['unchanged']} unchanged")
    if comparison.only_current:
        lines.append("only in current: " + ", ".join(comparison.only_current))
    if comparison.only_baseline:
        lines.append("only in baseline: " + ", ".join(comparison.only_baseline))
    return "\n".join(lines)


def _chart(comparison: Comparison) -> Optional[str]:
    from .results import _matplotlib

    changes = [c for c in comparison.changes if math.isfinite(c.change)]
    if not changes:
        return None
    changes = sorted(changes, key=lambda c: -abs(c.change))[:30]
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.32 * len(changes) + 1)))
    labels = [f"{c.benchmark} {c.path} {c.metric}".replace("  ", " ") for c in changes]
    # Plot "goodness": positive = better, whatever the metric's direction.
    values = [c.change_percent * c.direction for c in changes]
    colors = ["#c0392b" if c.status == "regression" else "#27ae60" if c.status == "improvement"
              else "#95a5a6" for c in changes]
    ax.barh(range(len(changes)), values, color=colors)
    ax.set_yticks(range(len(changes)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    for x in (comparison.threshold * 100, -comparison.threshold * 100):
        ax.axvline(x, color="#555", linestyle="--", linewidth=0.8)
    ax.axvline(0, color="#000", linewidth=0.8)
    ax.set_xlabel("change in percent (positive = better)")
    ax.set_title("Current against baseline")
    fig.tight_layout()
    return htmlpage.figure_img(fig, "change per metric")


def write_html(comparison: Comparison, output_dir: str) -> str:
    """Write the comparison page into `output_dir`; return its path."""
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    body = [htmlpage.cards([("regressions", len(comparison.regressions)),
                            ("improvements", len(comparison.improvements)),
                            ("within noise", len(comparison.of_status("noise"))),
                            ("metrics compared", len(comparison.changes)),
                            ("threshold", f"{comparison.threshold:.0%}")]),
            f'<p class="muted">current: {htmlpage.esc(comparison.current_dir)} · baseline: '
            f'{htmlpage.esc(comparison.baseline_dir)}. A regression is worse by more than the threshold '
            f'with non-overlapping asv 99% confidence intervals (where both runs have them).</p>']
    chart = _chart(comparison)
    if chart:
        body.append(chart)
    shown = comparison.regressions + comparison.improvements
    body.append("<h2>Regressions and improvements</h2>")
    body.append(htmlpage.table(_HEADERS, _rows(shown), [c.status for c in shown], text_columns=5)
                if shown else "<p>None.</p>")
    body.append("<h2>All compared metrics</h2>")
    body.append(htmlpage.table(_HEADERS, _rows(comparison.changes), [c.status for c in comparison.changes],
                               text_columns=5))
    if comparison.only_current or comparison.only_baseline:
        body.append("<h2>Not compared</h2><p>only in current: "
                    f"{htmlpage.esc(', '.join(comparison.only_current) or '-')}<br>only in baseline: "
                    f"{htmlpage.esc(', '.join(comparison.only_baseline) or '-')}</p>")
    target = folder / f"comparison_{_dt.datetime.now():%Y%m%d_%H%M%S}.html"
    target.write_text(htmlpage.page("AgentMemory benchmark comparison", "\n".join(body)), encoding="utf-8")
    return str(target)


def run_compare(current_dir: str, baseline_dir: str, threshold: float = 0.1,
                output_dir: Optional[str] = None) -> int:
    """Compare, print the table, write the HTML page (default into `current_dir`); return the exit
    code: 0 no regression, 2 regression, 1 error (message on stderr)."""
    try:
        comparison = compare_dirs(current_dir, baseline_dir, threshold)
    except CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(format_table(comparison))
    try:
        page_path = write_html(comparison, output_dir or current_dir)
    except OSError as exc:
        print(f"error: cannot write the comparison page: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"comparison page: {page_path}")
    if comparison.regressions:
        print(f"Performance regression detected: {len(comparison.regressions)} metric(s) worse by more than "
              f"{comparison.threshold:.0%}")
    return comparison.exit_code
