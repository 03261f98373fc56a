"""Baseline comparison: match two result directories by category, benchmark and parameter path, and
give each measurement one verdict: regression, improvement, unconfirmed, noise, unchanged or not
enough data.

The rule is :func:`memory.benchmarking.verdict.judge`: timings are judged on their samples (worse by
more than the threshold *and* a Mann-Whitney U test at `alpha`), deterministic metrics exactly, peak
memory on the threshold. Timings are judged only between runs measured side by side (the two sides of
one ``cli continuous`` run carry the same ``metadata.interleaved_run``); between runs made at
different times a timing change is ``unconfirmed`` and fails no build, unless ``judge_timings``. Throughput and latency derived from one timing are the same measurement as
its ``total_time_seconds``: judged, counted and shown once. Exit codes: 0 no regression,
2 regression, 1 error (see :func:`run_compare`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import htmlpage, naming, verdict
from .documents import canonical_path, find_documents, metric_rows, metric_stats

EXIT_OK, EXIT_ERROR, EXIT_REGRESSION = 0, 1, 2
SMOKE_PROFILE = "quick"


class CompareError(Exception):
    """The comparison cannot be made (missing directory, no results, nothing in common)."""


@dataclass
class MetricChange:
    """One measurement at one parameter path of one benchmark, baseline against current."""

    category: str
    benchmark: str
    path: str
    metric: str
    baseline: float
    current: float
    direction: int  # +1 higher is better, -1 lower is better
    change: float  # relative change of the medians: (current - baseline) / |baseline|
    status: str  # regression | improvement | unconfirmed | noise | unchanged | not enough data
    kind: str = "deterministic"  # timing | deterministic | resource
    p_value: Optional[float] = None
    interval: Optional[Tuple[float, float]] = None  # bootstrap 95% interval of median ratio current/baseline
    n_baseline: int = 0
    n_current: int = 0
    reason: str = ""
    derived: List[str] = field(default_factory=list)  # metrics of the same measurement (throughput, latency)
    asv_name: Optional[str] = None
    asv_params: Optional[List[str]] = None
    confirmed: Optional[bool] = None  # set by a confirmation pass (continuous)
    screen_change: Optional[float] = None  # continuous: the first pass's change, where the pairs measured anew
    round_changes: Optional[List[float]] = None  # continuous: a flagged timing's change in each round
    canonical: str = ""  # the parameter path with fixed parameters put back (matches across subset runs)
    baseline_samples: Optional[List[float]] = field(default=None, repr=False)  # not in the JSON
    current_samples: Optional[List[float]] = field(default=None, repr=False)
    baseline_rounds: Optional[List[int]] = field(default=None, repr=False)  # samples per round, not in the JSON
    current_rounds: Optional[List[int]] = field(default=None, repr=False)

    @property
    def change_percent(self) -> float:
        """The relative change in percent."""
        return self.change * 100.0

    @property
    def key(self) -> Tuple[str, str, str, str]:
        """(category, benchmark, canonical parameter path, metric): what identifies the measurement,
        also in a run of a subset of the grid (where a parameter left with one value is not nested)."""
        return self.category, self.benchmark, self.canonical or self.path, self.metric

    def to_json(self) -> Dict[str, Any]:
        """A JSON-ready dict (non-finite numbers as strings)."""
        out = asdict(self)
        for name in ("baseline_samples", "current_samples", "baseline_rounds", "current_rounds"):
            out.pop(name)
        for name in ("change", "baseline", "current", "p_value", "screen_change"):
            if isinstance(out[name], float) and not math.isfinite(out[name]):
                out[name] = str(out[name])
        return out


@dataclass
class Comparison:
    """Everything compared, with the settings used."""

    current_dir: str
    baseline_dir: str
    threshold: float
    alpha: float = verdict.DEFAULT_ALPHA
    changes: List[MetricChange] = field(default_factory=list)
    only_current: List[str] = field(default_factory=list)
    only_baseline: List[str] = field(default_factory=list)
    smoke: bool = False  # a side was measured with the quick profile
    side_by_side: bool = True  # every compared pair was measured interleaved (or judge_timings)
    screen_alpha: Optional[float] = None  # continuous: the first pass's level; candidates confirmed at alpha

    def of_status(self, status: str) -> List[MetricChange]:
        """Changes with the given status."""
        return [c for c in self.changes if c.status == status]

    @property
    def regressions(self) -> List[MetricChange]:
        """Measurements that got worse beyond threshold and noise."""
        return self.of_status("regression")

    @property
    def improvements(self) -> List[MetricChange]:
        """Measurements that got better beyond threshold and noise."""
        return self.of_status("improvement")

    @property
    def unconfirmed(self) -> List[MetricChange]:
        """Timing changes between runs measured at different times: to confirm side by side."""
        return self.of_status("unconfirmed")

    @property
    def exit_code(self) -> int:
        """2 when there is a regression, else 0."""
        return EXIT_REGRESSION if self.regressions else EXIT_OK

    def counts(self) -> Dict[str, int]:
        """Measurements per status."""
        return {s: len(self.of_status(s)) for s in verdict.STATUSES}

    def to_json(self, **extra: Any) -> Dict[str, Any]:
        """The verdict document (``compare --json``, ``continuous``'s verdict.json)."""
        doc: Dict[str, Any] = {"exit_code": self.exit_code, "threshold": self.threshold, "alpha": self.alpha,
                               "screen_alpha": self.screen_alpha, "current_dir": self.current_dir, "baseline_dir": self.baseline_dir,
                               "smoke": self.smoke, "side_by_side": self.side_by_side,
                               "counts": self.counts(),
                               "measurements": [c.to_json() for c in self.changes],
                               "regressions": [c.to_json() for c in self.regressions],
                               "only_current": self.only_current, "only_baseline": self.only_baseline}
        doc.update(extra)
        return doc


def _latest(root: str) -> Dict[Tuple[str, str], Dict[str, Any]]:
    latest: Dict[Tuple[str, str], Dict[str, Any]] = {}
    for _, doc in find_documents(root):  # oldest first: later runs replace earlier ones
        latest[(doc["category"], doc["benchmark"])] = doc
    return latest


def _meta_map(doc: Dict[str, Any], key: str) -> Dict[str, Any]:
    value = (doc.get("metadata") or {}).get(key)
    return value if isinstance(value, dict) else {}


def is_smoke(doc: Dict[str, Any]) -> bool:
    """True for a result of the quick profile (one sample: a smoke run, not a measurement to judge)."""
    return (doc.get("metadata") or {}).get("profile") == SMOKE_PROFILE


def measured_side_by_side(cur_doc: Dict[str, Any], base_doc: Dict[str, Any]) -> bool:
    """True when both documents come from one interleaved measurement (one ``cli continuous`` run)."""
    run = (cur_doc.get("metadata") or {}).get("interleaved_run")
    return bool(run) and run == (base_doc.get("metadata") or {}).get("interleaved_run")


def is_percent(metric: str, unit: Optional[str] = None) -> bool:
    """True for a metric in percent (``overhead_percent``): compared in percentage points."""
    return metric.endswith("_percent") or (unit or "").strip().lower() in ("percent", "%")


def kind_overrides(doc: Dict[str, Any]) -> Dict[Tuple[str, str], Tuple[str, str]]:
    """{(canonical path, metric): (kind, reason)} of ``metadata.metric_kind_overrides``: measurements the
    suite declares not exactly reproducible (judged on the threshold there); malformed entries are ignored."""
    out: Dict[Tuple[str, str], Tuple[str, str]] = {}
    for path, metrics in _meta_map(doc, "metric_kind_overrides").items():
        for metric, entry in (metrics.items() if isinstance(metrics, dict) else ()):
            if isinstance(entry, dict) and entry.get("kind") in verdict.KINDS:
                out[(canonical_path(doc, str(path)), str(metric))] = (entry["kind"], str(entry.get("reason") or ""))
    return out


def _judged_kind(metric: str, key: Tuple[str, str], kinds: Dict[str, Any],
                 overridden: Dict[Tuple[str, str], Tuple[str, str]]) -> Tuple[str, Optional[str]]:
    """(kind, why it is not the metric's own kind, or None) of the measurement `key` (canonical path, metric)."""
    if key in overridden:
        kind, why = overridden[key]
        return kind, why or "kind overridden here"
    return (kinds.get(metric) if kinds.get(metric) in verdict.KINDS else naming.metric_kind(metric)), None


def _overridden_reason(kind: str, why: str, reason: str) -> str:
    """The reason of a verdict judged by an overridden kind: "not reproducible for chroma: judged on the threshold"."""
    return f"{why}: judged on the threshold" if kind == "resource" else f"{why}: judged as {kind} ({reason})"


def compare_documents(cur_doc: Dict[str, Any], base_doc: Dict[str, Any], threshold: float,
                      alpha: float = verdict.DEFAULT_ALPHA, judge_timings: bool = False) -> List[MetricChange]:
    """One MetricChange per measurement the two documents of one benchmark share; timings of
    documents not measured side by side are judged only with `judge_timings`. A measurement either
    document declares not reproducible (``metadata.metric_kind_overrides``) is judged by that kind."""
    side_by_side = judge_timings or measured_side_by_side(cur_doc, base_doc)
    overrides = _meta_map(cur_doc, "metric_directions")
    kinds = dict(_meta_map(base_doc, "metric_kinds"), **_meta_map(cur_doc, "metric_kinds"))
    overridden = {**kind_overrides(base_doc), **kind_overrides(cur_doc)}
    derived = dict(_meta_map(base_doc, "derived_metrics"), **_meta_map(cur_doc, "derived_metrics"))
    sources = _meta_map(cur_doc, "metric_sources")
    units = _meta_map(cur_doc, "units")
    smoke = is_smoke(cur_doc) or is_smoke(base_doc)
    base_values = {(canonical_path(base_doc, p), m): (p, v) for p, m, v in metric_rows(base_doc)}
    cur_rows = metric_rows(cur_doc)
    present = {(canonical_path(cur_doc, p), m) for p, m, _ in cur_rows} & set(base_values)
    twins: Dict[Tuple[str, str], List[str]] = {}
    for path, metric, _ in cur_rows:
        source = derived.get(metric)
        if source and (canonical_path(cur_doc, path), source) in present:
            twins.setdefault((path, source), []).append(metric)
    out: List[MetricChange] = []
    category, benchmark = cur_doc["category"], cur_doc["benchmark"]
    for path, metric, value in cur_rows:
        key = (canonical_path(cur_doc, path), metric)
        if key not in present:
            continue
        if derived.get(metric) and (key[0], derived[metric]) in present:
            continue  # a throughput/latency twin: judged with its timing
        base_path, old = base_values[key]
        direction = overrides.get(metric) if overrides.get(metric) in (1, -1) else naming.metric_direction(metric)
        if direction == 0:
            continue
        kind, why = _judged_kind(metric, key, kinds, overridden)
        base_stats, cur_stats = metric_stats(base_doc, base_path, metric), metric_stats(cur_doc, path, metric)
        if smoke and kind == "timing":
            judged = verdict.Verdict("not enough data", verdict.relative_change(old, value),
                                     reason="quick profile: a smoke run, one sample")
        else:
            judged = verdict.judge(kind, old, value, direction, threshold, base_stats.get("samples"),
                                   cur_stats.get("samples"), alpha, percent=is_percent(metric, units.get(metric)),
                                   side_by_side=side_by_side)
        if why:
            judged = dataclasses.replace(judged, reason=_overridden_reason(kind, why, judged.reason))
        out.append(MetricChange(category, benchmark, path, metric, old, value, direction, judged.change,
                                judged.status, kind, judged.p_value, judged.interval, judged.n_baseline,
                                judged.n_current, judged.reason, twins.get((path, metric), []),
                                sources.get(metric), cur_stats.get("asv_params"), canonical=key[0],
                                baseline_samples=base_stats.get("samples"), current_samples=cur_stats.get("samples"),
                                baseline_rounds=base_stats.get("samples_per_round"),
                                current_rounds=cur_stats.get("samples_per_round")))
    return out


def compare_dirs(current_dir: str, baseline_dir: str, threshold: float = 0.1,
                 alpha: float = verdict.DEFAULT_ALPHA, judge_timings: bool = False) -> Comparison:
    """Compare the latest run of each benchmark in `current_dir` with the one in `baseline_dir`
    (`judge_timings`: judge timings of runs measured at different times as if side by side).

    Raises CompareError for a missing or empty directory, or when nothing is comparable."""
    if not naming.is_finite(threshold) or threshold < 0:
        raise CompareError(f"--threshold must be a number >= 0; got {threshold!r}")
    if not naming.is_finite(alpha) or not 0 < alpha < 1:
        raise CompareError(f"--alpha must be a number between 0 and 1; got {alpha!r}")
    for label, folder in (("current", current_dir), ("baseline", baseline_dir)):
        if not Path(folder).is_dir():
            raise CompareError(f"{label} directory not found: {folder}")
    current, baseline = _latest(current_dir), _latest(baseline_dir)
    for label, folder, docs in (("current", current_dir, current), ("baseline", baseline_dir, baseline)):
        if not docs:
            raise CompareError(f"no benchmark results in {label} directory {folder}")
    result = Comparison(current_dir=str(current_dir), baseline_dir=str(baseline_dir), threshold=threshold,
                        alpha=alpha)
    result.only_current = sorted("/".join(k) for k in current.keys() - baseline.keys())
    result.only_baseline = sorted("/".join(k) for k in baseline.keys() - current.keys())
    for key in sorted(current.keys() & baseline.keys()):
        result.smoke = result.smoke or is_smoke(current[key]) or is_smoke(baseline[key])
        result.side_by_side = result.side_by_side and (judge_timings or
                                                       measured_side_by_side(current[key], baseline[key]))
        result.changes += compare_documents(current[key], baseline[key], threshold, alpha, judge_timings)
    if not result.changes:
        raise CompareError(f"nothing comparable between {current_dir} and {baseline_dir}: no benchmark, "
                           "parameter and metric appears in both")
    return result


def _interval_text(change: MetricChange) -> str:
    if not change.interval:
        return "-"
    low, high = change.interval
    return f"{100 * (low - 1):+.1f}% … {100 * (high - 1):+.1f}%"


def _rows(changes: Sequence[MetricChange]) -> List[List[Any]]:
    return [[c.status + ("" if c.confirmed is None else (" (confirmed)" if c.confirmed else " (not confirmed)")),
             f"{c.category}/{c.benchmark}", c.path or "-",
             c.metric + (f" (+{', '.join(c.derived)})" if c.derived else ""), c.kind,
             "higher" if c.direction > 0 else "lower", c.baseline, c.current, f"{c.change_percent:+.1f}%",
             "-" if c.p_value is None else f"{c.p_value:.2g}", _interval_text(c),
             f"{c.n_baseline}/{c.n_current}" if c.kind == "timing" else "-"] for c in changes]


_HEADERS = ["status", "benchmark", "parameters", "metric", "kind", "better", "baseline", "current", "change",
            "p", "95% interval", "samples"]


def format_table(comparison: Comparison) -> str:
    """A plain-text table of regressions, improvements and unconfirmed timings plus a summary."""
    shown = comparison.regressions + comparison.improvements + comparison.unconfirmed
    lines: List[str] = []
    if shown:
        rows = [[str(x) if not isinstance(x, float) else htmlpage.fmt_number(x) for x in row]
                for row in _rows(shown)]
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(_HEADERS)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(_HEADERS, widths)))
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    counts = comparison.counts()
    screen = "" if comparison.screen_alpha is None else f", screen {comparison.screen_alpha:g}"
    lines.append(f"compared {len(comparison.changes)} measurements (threshold {comparison.threshold:.0%}, "
                 f"alpha {comparison.alpha:g}{screen}): {counts['regression']} regression(s), "
                 f"{counts['improvement']} improvement(s), {counts['unconfirmed']} unconfirmed, "
                 f"{counts['noise']} within noise, "
                 f"{counts['unchanged']} unchanged, {counts['not enough data']} not enough data")
    if counts["unconfirmed"]:
        lines.append(f"unconfirmed: {counts['unconfirmed']} timing change(s) between runs measured at different "
                     "times (the machine's load moves whole runs): they fail no build; confirm them side by side "
                     "with `cli continuous BASE HEAD`")
    if counts["not enough data"]:
        why = ("the quick profile takes one sample: it is for smoke runs, and its timings cannot be judged"
               if comparison.smoke else
               f"a timing needs {verdict.MIN_SAMPLES} samples on each side (run with the default profile)")
        lines.append(f"not judged: {counts['not enough data']} timing(s); {why}")
    if comparison.only_current:
        lines.append("only in current: " + ", ".join(comparison.only_current))
    if comparison.only_baseline:
        lines.append("only in baseline: " + ", ".join(comparison.only_baseline))
    return "\n".join(lines)


def _chart(comparison: Comparison) -> Optional[str]:
    """The change-per-metric bar chart (the 30 largest changes, each labelled on the axis) as an inline
    image, or None (nothing to draw, or matplotlib could not draw it: the page is written without the
    chart, with a warning)."""
    from .results import plot_label, pyplot

    candidates = [c for c in comparison.changes if math.isfinite(c.change) and c.status != "not enough data"]
    if not candidates:
        return None
    changes = sorted(candidates, key=lambda c: -abs(c.change))[:30]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, max(2.5, 0.32 * len(changes) + 1)))
    labels = [plot_label(f"{c.benchmark} {c.path} {c.metric}".replace("  ", " ")) for c in changes]
    # Plot "goodness": positive = better, whatever the metric's direction.
    values = [c.change_percent * c.direction for c in changes]
    colors = ["#c0392b" if c.status == "regression" else "#27ae60" if c.status == "improvement"
              else "#e67e22" if c.status == "unconfirmed" else "#95a5a6" for c in changes]
    ax.barh(range(len(changes)), values, color=colors)
    for row, c in enumerate(changes):  # the bootstrap interval of the change, as a whisker
        if c.interval:
            ends = sorted(100 * (x - 1) * c.direction for x in c.interval)
            ax.plot(ends, [row, row], color="#333", linewidth=1.2)
    ax.set_yticks(range(len(changes)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    for x in (comparison.threshold * 100, -comparison.threshold * 100):
        ax.axvline(x, color="#555", linestyle="--", linewidth=0.8)
    ax.axvline(0, color="#000", linewidth=0.8)
    ax.set_xlabel("change in percent (positive = better; whisker: 95% bootstrap interval)")
    ax.set_title("Current against baseline")
    shown = f"the {len(changes)} largest of {len(candidates)} changes" if len(candidates) > len(changes) else ""
    return htmlpage.embed_figure(fig, "comparison chart: change per metric", shown,
                                 data={"panels": 1, "series": 1, "max-series": 1, "legend": "axis"}) or None


_SEVERITY = {"regression": 0, "unconfirmed": 1, "not enough data": 2, "noise": 3, "unchanged": 4, "improvement": 5}
_VERDICT_WORDS = (("regression", "regression", "regressions"), ("unconfirmed", "unconfirmed", "unconfirmed"),
                  ("not enough data", "not judged", "not judged"), ("improvement", "better", "better"),
                  ("noise", "within noise", "within noise"), ("unchanged", "same", "same"))
GLANCE_ROWS = 18  # benchmark rows of a summary; with more, each category shows its worst and lists the rest


def goodness(change: MetricChange) -> float:
    """The change in percent, positive = better whatever the metric's direction (0 when not finite)."""
    value = change.change_percent * change.direction
    return value if math.isfinite(value) else 0.0


def worst_first(changes: Sequence[MetricChange]) -> List[MetricChange]:
    """`changes` worst first: regressions, unconfirmed timings, timings not judged, noise, unchanged,
    improvements; within each, the most worsened first."""
    return sorted(changes, key=lambda c: (_SEVERITY.get(c.status, len(_SEVERITY)), goodness(c)))


@dataclass
class GlanceRow:
    """One benchmark's line of an at-a-glance summary (the report's and the comparison page's)."""

    category: str
    benchmark: str
    href: str  # the id of its details on the page
    changes: List[MetricChange]
    cells: List[Any] = field(default_factory=list)  # cells shown between its name and its worst change
    problem: str = ""  # e.g. "latest run failed": such rows come first, in red
    detail: str = ""  # what went wrong, shown as its measurement

    def rank(self) -> Tuple[int, int, float]:
        """Sort key: problems first, then by the worst change (rows without changes last)."""
        worst = worst_first(self.changes)[:1]
        if not worst:
            return (0 if self.problem else 1, len(_SEVERITY) + 1, 0.0)
        return (0 if self.problem else 1, _SEVERITY.get(worst[0].status, len(_SEVERITY)), goodness(worst[0]))


def _change_cells(row: GlanceRow, threshold: float, nothing: str) -> List[Any]:
    """[the worst change as a bar and a percentage, what it measures, the count of each verdict]."""
    if row.problem:
        return [htmlpage.Html(f'<span class="error">{htmlpage.esc(row.problem)}</span>'),
                htmlpage.Html(f'<span class="error">{htmlpage.breakable(row.detail)}</span>'), ""]
    if not row.changes:
        return [htmlpage.Html(f'<span class="muted">{htmlpage.esc(nothing)}</span>'), "", ""]
    worst = worst_first(row.changes)[0]
    better = goodness(worst)
    word = "better" if better > 0 else "worse" if better < 0 else "same"
    color = htmlpage.STATUS_COLORS.get(worst.status, htmlpage.NEUTRAL)
    bar = htmlpage.change_bar(better, color, f"{worst.metric} {worst.change_percent:+.1f}% ({word}), {worst.status}",
                              threshold_percent=100 * threshold, width=90)
    measured = f"{worst.path} {worst.metric}".strip()
    verdict = next((one for status, one, _ in _VERDICT_WORDS if status == worst.status), worst.status)
    what = htmlpage.Html(f'{htmlpage.breakable(measured)} <span class="muted">{htmlpage.esc(verdict)}</span>')
    counts = [f"{n} {one if n == 1 else many}" for status, one, many in _VERDICT_WORDS
              for n in [len([c for c in row.changes if c.status == status])] if n]
    return [htmlpage.Html(f"{bar} {worst.change_percent:+.1f}% {word}"), what, " · ".join(counts)]


def glance(rows: Sequence[GlanceRow], extra_columns: Sequence[Tuple[str, str]], threshold: float,
           nothing: str = "nothing to compare") -> str:
    """One table, per category (the worst first) its benchmarks, the worst first: each benchmark's
    worst change as a bar (left = worse; dashed: ± the threshold), what it measures and the count of
    each verdict, a line each. With more than GLANCE_ROWS benchmarks, each category shows its worst
    ones and names the rest (linked) on one line: the summary stays one screen. `extra_columns`:
    (header, CSS width) of the rows' `cells`; `nothing`: what a row without changes says."""
    by_category: Dict[str, List[GlanceRow]] = {}
    for row in sorted(rows, key=GlanceRow.rank):
        by_category.setdefault(row.category, []).append(row)
    shown = len(rows) if len(rows) <= GLANCE_ROWS else max(2, GLANCE_ROWS // len(by_category))
    headers = ["benchmark", *(h for h, _ in extra_columns), "worst change", "measurement", "verdicts"]
    widths = ["15%", *(w for _, w in extra_columns), "222px", "auto", "17%"]
    table_rows: List[Any] = []
    for category, members in by_category.items():
        table_rows.append(htmlpage.Span(f"{htmlpage.esc(category)} <span class=\"muted\">{len(members)} "
                                        f"benchmark{'s' if len(members) != 1 else ''}</span>", "group"))
        table_rows += [[htmlpage.link(r.href, htmlpage.breakable(r.benchmark)), *r.cells,
                        *_change_cells(r, threshold, nothing)]
                       for r in members[:shown]]
        if len(members) > shown:
            rest = ", ".join(htmlpage.link(r.href, r.benchmark) for r in members[shown:])
            table_rows.append(htmlpage.Span(f"{len(members) - shown} more, smaller changes: {rest}", "more"))
    return htmlpage.table(headers, table_rows, text_columns=len(headers), css_class="glance", widths=widths)


_HTML_HEADERS = _HEADERS[:4] + _HEADERS[6:]


def _html_rows(changes: Sequence[MetricChange]) -> List[List[Any]]:
    """The page's table rows: names that wrap; kind, direction and the verdict's reason under the metric's name."""
    out = []
    for change, row in zip(changes, _rows(changes)):
        reason = f'<span class="why">{htmlpage.esc(change.reason)}</span>' if change.reason else ""
        metric = htmlpage.Html(f'{htmlpage.breakable(row[3])}<span class="sub">{htmlpage.esc(row[4])}, '
                               f'{htmlpage.esc(row[5])} is better</span>{reason}')
        out.append([row[0], htmlpage.breakable(row[1]), htmlpage.breakable(row[2]), metric] + row[6:])
    return out


def _summary(comparison: Comparison, anchors: Dict[Tuple[str, str], str]) -> str:
    """The page's first screen: verdict counts, warnings about the runs, each benchmark's worst change."""
    counts = comparison.counts()
    out = ['<section class="summary" id="summary">',
           htmlpage.cards([("regressions", counts["regression"], "bad" if counts["regression"] else ""),
                           ("improvements", counts["improvement"]), ("unconfirmed", counts["unconfirmed"]),
                           ("within noise", counts["noise"]), ("not enough data", counts["not enough data"]),
                           ("measurements compared", len(comparison.changes)),
                           ("threshold", f"{comparison.threshold:.0%}")])]
    if not comparison.side_by_side:
        out.append('<p class="error">These runs were not measured side by side: a timing change between '
                   'them is <b>unconfirmed</b> (the machine\'s load between two runs moves whole runs) and '
                   'fails no build. Confirm it with <code>cli continuous BASE HEAD</code>.</p>')
    if comparison.smoke:
        out.append('<p class="error">A side of this comparison is a quick-profile (smoke) run: its timings '
                   'carry one sample and are not judged.</p>')
    per_benchmark: Dict[Tuple[str, str], List[MetricChange]] = {}
    for change in comparison.changes:
        per_benchmark.setdefault((change.category, change.benchmark), []).append(change)
    out.append(glance([GlanceRow(cat, bench, anchors[(cat, bench)], changes)
                       for (cat, bench), changes in per_benchmark.items()], [], comparison.threshold))
    out.append("</section>")
    return "\n".join(out)


def _timing_rule(comparison: Comparison) -> str:
    """How this comparison judged timings, for the page: a rank test, or (continuous) a rank-test
    screen whose candidates the paired confirmation pass decides."""
    if comparison.screen_alpha is None:
        return (f"A timing regresses when its median is worse by more than the threshold and a Mann-Whitney "
                f"U test on the samples gives p &lt; {comparison.alpha:g}")
    return (f"A timing whose median moved by more than the threshold with a Mann-Whitney U test on the "
            f"first pass's samples at p &lt; {comparison.screen_alpha:g} was measured again, both commits "
            f"sample against sample in pairs of processes; it regresses only when the median pair change is "
            f"worse by more than the threshold, a sign test over the pairs gives p &lt; "
            f"{comparison.alpha / 2:g} and every process pair went the same way")


def write_html(comparison: Comparison, output_dir: str, title: str = "AgentMemory benchmark comparison") -> str:
    """Write the comparison page into `output_dir`; return its path. Its first screen is the summary:
    per category, each benchmark's worst change (worst first), linked to its rows below."""
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    anchors: Dict[Tuple[str, str], str] = {}
    row_ids = []
    for change in comparison.changes:
        key = (change.category, change.benchmark)
        first = key not in anchors
        anchors.setdefault(key, htmlpage.anchor("cmp", *key))
        row_ids.append(anchors[key] if first else None)
    body = [_summary(comparison, anchors),
            f'<p class="muted">current: {htmlpage.esc(comparison.current_dir)} · baseline: '
            f'{htmlpage.esc(comparison.baseline_dir)}. {_timing_rule(comparison)}; '
            f'a deterministic metric (quality, sizes, counts) when it changes at all; peak memory when it is '
            f'worse by more than the threshold. The 95% interval is a bootstrap interval of the ratio of '
            f'medians (current / baseline), shown as a change. Throughput and latency derived from a timing '
            f'are judged with it (listed after its name).</p>']
    chart = _chart(comparison)
    if chart:
        body.append(chart)
    shown = comparison.regressions + comparison.improvements + comparison.unconfirmed
    body.append("<h2>Regressions, improvements and unconfirmed timings</h2>")
    body.append(htmlpage.table(_HTML_HEADERS, _html_rows(shown), [c.status for c in shown],
                               text_columns=4) if shown else "<p>None.</p>")
    body.append("<h2>All compared measurements</h2>")
    body.append(htmlpage.table(_HTML_HEADERS, _html_rows(comparison.changes),
                               [c.status for c in comparison.changes], text_columns=4, row_ids=row_ids))
    if comparison.only_current or comparison.only_baseline:
        body.append("<h2>Not compared</h2><p>only in current: "
                    f"{htmlpage.esc(', '.join(comparison.only_current) or '-')}<br>only in baseline: "
                    f"{htmlpage.esc(', '.join(comparison.only_baseline) or '-')}</p>")
    target = folder / f"comparison_{_dt.datetime.now():%Y%m%d_%H%M%S}.html"
    target.write_text(htmlpage.page(title, "\n".join(body)), encoding="utf-8")
    return str(target)


def write_json(document: Dict[str, Any], path: str) -> str:
    """Write a verdict document (via a temporary file, so a reader never sees half of it)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(target)
    return str(target)


def report(comparison: Comparison, output_dir: str, json_path: Optional[str] = None,
           **extra: Any) -> int:
    """Print the table, write the HTML page (and the verdict JSON); return the exit code."""
    print(format_table(comparison))
    try:
        page_path = write_html(comparison, output_dir)
        if json_path:
            write_json(comparison.to_json(**extra), json_path)
    except OSError as exc:
        print(f"error: cannot write the comparison: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"comparison page: {page_path}")
    if comparison.regressions:
        print(f"Performance regression detected: {len(comparison.regressions)} measurement(s) worse by more "
              f"than {comparison.threshold:.0%} beyond noise")
    return comparison.exit_code


def run_compare(current_dir: str, baseline_dir: str, threshold: float = 0.1,
                output_dir: Optional[str] = None, json_path: Optional[str] = None,
                alpha: float = verdict.DEFAULT_ALPHA, judge_timings: bool = False) -> int:
    """Compare, print the table, write the HTML page (default into `current_dir`) and, with
    `json_path`, the verdict JSON; return the exit code: 0 no regression, 2 regression, 1 error."""
    try:
        comparison = compare_dirs(current_dir, baseline_dir, threshold, alpha, judge_timings)
    except CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    return report(comparison, output_dir or current_dir, json_path)
