"""The HTML report of stored results (``BenchmarkResults.generate_report``, ``cli results report``).

One self-contained page that reads at a glance. Its first screen is the summary: per category, each
benchmark's change since its previous run, worst first, as a bar, beside a sparkline of its headline
metric over the runs; errors name their runs and link to them (and say "in older runs" when the
latest runs are fine). Then a section per benchmark: its latest run's header line (once), the table
of its latest results (names wrap; a table still too wide scrolls inside its own box), plots of at
most :data:`MAX_SERIES` labelled series each (one panel per value of a parameter, or the series that
moved most, saying so), its history, and a row with an anchor per run. Results of the
``implementations`` category add the side-by-side page after the summary (:mod:`.sidebyside`).

The changes are ``compare``'s verdicts (:func:`memory.benchmarking.compare.compare_documents`) of the
latest run with results against the one before: timings of runs measured at different times are
*unconfirmed*, quick-profile timings are not judged.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import htmlpage, naming
from .compare import GlanceRow, compare_documents, glance
from .documents import (ResultsError, canonical_path, find_documents, metric_rows, metric_stats, param_prefixes,
                        safe_name, sample_quartiles)
from .results import MAX_SERIES, plot_label, pyplot
from .verdict import UNSTABLE_SPREAD

MAX_PANELS = 4  # panels in one figure
HISTORY_RUNS = 20  # runs in a history plot and a sparkline
LISTED_RUNS = 30  # runs listed in a benchmark's table of runs (older ones with errors are always listed)
CHANGE_THRESHOLD = 0.1  # compare's default: the summary's verdicts of each latest run
# A colour and a marker per series of a panel (tab10 without its grey and olive)
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

# Metrics drawn in reports, in order of preference (leaf name suffixes).
_REPORT_METRIC_HINTS = ("throughput_ops_per_second", "total_time_seconds", "latency", "_seconds", "_ms",
                        "recall", "precision", "similarity", "bytes", "ratio", "mse", "retention",
                        "efficiency", "percent")
# Parameters preferred as x axis (volume-like), then any numeric parameter.
_X_HINTS = ("batch_size", "dataset_size", "memory_size", "data_volume", "volume", "num_memories",
            "agent_count", "num_agents", "query_count", "operations")

Series = Dict[Tuple[str, ...], List[Tuple[Any, float]]]  # path keys -> [(x, value), ...]


def when(stamp: Any) -> str:
    """A result timestamp (``20250323_145623``) as ``2025-03-23 14:56:23``; anything else as it is."""
    try:
        return f"{_dt.datetime.strptime(str(stamp), '%Y%m%d_%H%M%S'):%Y-%m-%d %H:%M:%S}"
    except ValueError:
        return str(stamp)


@dataclass
class Run:
    """One result file."""

    path: str
    doc: Dict[str, Any]

    @property
    def anchor(self) -> str:
        """The id of its row in its benchmark's table of runs."""
        return htmlpage.anchor("run", self.doc["category"], Path(self.path).stem)

    @property
    def meta(self) -> Dict[str, Any]:
        """Its metadata ({} when missing)."""
        meta = self.doc.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def label(self) -> str:
        """``category/benchmark 2025-03-23 14:56:23``."""
        return f"{self.doc['category']}/{self.doc['benchmark']} {when(self.doc.get('timestamp', ''))}"

    def link(self) -> htmlpage.Html:
        """A link to its row."""
        return htmlpage.link(self.anchor, self.label)


@dataclass
class Benchmark:
    """The runs of one benchmark, oldest first."""

    category: str
    name: str
    runs: List[Run]

    @property
    def anchor(self) -> str:
        """The id of its section."""
        return htmlpage.anchor("bench", self.category, self.name)

    @property
    def latest(self) -> Run:
        """Its latest run (with results or not)."""
        return self.runs[-1]

    @property
    def measured(self) -> List[Run]:
        """Its runs without an error that have results, oldest first."""
        return [r for r in self.runs if not r.doc.get("error") and metric_rows(r.doc)]

    def metrics(self) -> List[str]:
        """The metrics of its latest run with results, in order."""
        return naming.dedupe(m for _, m, _ in metric_rows(self.measured[-1].doc)) if self.measured else []

    @property
    def headline(self) -> Optional[str]:
        """The metric its sparkline and history plot follow (throughput first), or None."""
        return next(iter(report_metrics(self.metrics())), None)

    def changes(self) -> list:
        """compare's verdicts of its latest run with results against the previous one ([] with fewer)."""
        measured = self.measured
        if len(measured) < 2:
            return []
        return compare_documents(measured[-1].doc, measured[-2].doc, CHANGE_THRESHOLD)


def report_metrics(metrics: List[str], limit: int = 4) -> List[str]:
    """Up to `limit` of `metrics` to draw (throughput, times, latencies, sizes, quality…), directed ones only."""
    chosen: List[str] = []
    for hint in _REPORT_METRIC_HINTS:
        for m in metrics:
            if hint in m and m not in chosen and naming.metric_direction(m) != 0:
                chosen.append(m)
    return chosen[:limit]


def x_axis(doc: Dict[str, Any]) -> Optional[str]:
    """The numeric parameter with the most values (volume-like names first), or None."""
    meta = doc.get("metadata") or {}
    grid = meta.get("asv_params") or {}
    numeric = {name: values for name, values in grid.items() if isinstance(values, list) and len(values) > 1
               and all(naming.is_finite(v) for v in values)}
    if not numeric:
        return None
    for hint in _X_HINTS:
        for name in numeric:
            if hint in name:
                return name
    return max(numeric, key=lambda n: len(numeric[n]))


# ---- series and panels ------------------------------------------------------------------------


def _keys(path: str) -> Tuple[str, ...]:
    return tuple(p for p in path.split(naming.PATH_SEP) if p) if path else ()


def series_against(doc: Dict[str, Any], metric: str, x_param: str) -> Series:
    """`metric` of one run against parameter `x_param` (read from path keys like ``batch_100``): a
    series per combination of the other path keys, its points sorted by x."""
    prefixes = param_prefixes(doc, x_param)
    out: Series = {}
    for where, name, value in metric_rows(doc):
        if name != metric:
            continue
        rest, x_value = [], None
        for part in _keys(where):
            hit = next((v for v in (naming.key_value(part, p) for p in prefixes) if v is not None), None)
            if hit is not None and x_value is None:
                x_value = hit
            else:
                rest.append(part)
        if x_value is not None:
            out.setdefault(tuple(rest), []).append((x_value, value))
    numeric = all(isinstance(x, (int, float)) for points in out.values() for x, _ in points)
    return {k: sorted(v, key=lambda p: p[0] if numeric else str(p[0])) for k, v in out.items()}


def series_over_runs(runs: Sequence[Run], metric: str) -> Series:
    """`metric` over `runs` (x: the run's index): a series per parameter path, matched across runs by
    its canonical path (a run of a subset of the grid lines up with a full one)."""
    out: Series = {}
    for index, run in enumerate(runs):
        for where, name, value in metric_rows(run.doc):
            if name == metric:
                out.setdefault(_keys(canonical_path(run.doc, where)), []).append((index, value))
    return out


def moved(points: List[Tuple[Any, float]]) -> float:
    """How much a series moves: |log(last / first)| (0 for fewer than two positive values)."""
    values = [v for _, v in points if naming.is_finite(v) and v > 0]
    return abs(math.log(values[-1] / values[0])) if len(values) > 1 else 0.0


def _facet_name(key: str) -> str:
    return key.rsplit("_", 1)[0] if "_" in key else key


def panels(series: Series) -> Tuple[List[Tuple[str, Series]], str]:
    """`series` split so that no panel holds more than MAX_SERIES and no figure more than MAX_PANELS:
    one panel when they fit; else one panel per value of the path key that lets the most series be
    shown (then the fewest panels); what still does not fit is left out (the series that moved
    least, the last panels). Returns the panels as (title, series) and a note saying how they were
    split and what was left out ("" when all fit in one panel)."""
    if len(series) <= MAX_SERIES:
        return [("", series)], ""

    def shown(groups: List[Series]) -> Tuple[int, int]:
        return -sum(min(len(g), MAX_SERIES) for g in groups[:MAX_PANELS]), len(groups)

    split: List[Tuple[str, Series]] = [("", series)]
    for position in range(max(len(k) for k in series)):
        groups: Dict[str, Series] = {}
        for key, points in series.items():
            groups.setdefault(key[position] if position < len(key) else "", {})[key] = points
        if shown(list(groups.values())) < shown([s for _, s in split]):
            split = list(groups.items())
    notes = [f"one panel per {_facet_name(split[0][0])}"] if len(split) > 1 else []
    if len(split) > MAX_PANELS:
        notes.append(f"the first {MAX_PANELS} of {len(split)} panels shown")
        split = split[:MAX_PANELS]
    out, trimmed = [], 0
    for title, members in split:
        if len(members) > MAX_SERIES:
            keep = set(sorted(members, key=lambda k: -moved(members[k]))[:MAX_SERIES])
            trimmed = max(trimmed, len(members))
            members = {k: v for k, v in members.items() if k in keep}
        out.append((title, members))
    if trimmed:
        notes.append(f"{'in each panel ' if len(out) > 1 else ''}the {MAX_SERIES} series (of "
                     f"{'up to ' if len(out) > 1 else ''}{trimmed}) that moved most")
    return out, "; ".join(notes)


def _labels(members: Series, title: str) -> Dict[Tuple[str, ...], str]:
    """Each series' legend label: its path keys without the panel's and those all series share."""
    shared = set.intersection(*(set(k) for k in members)) if len(members) > 1 else set()
    return {k: " ".join(p for p in k if p != title and p not in shared) or "/".join(k) or "value"
            for k in members}


def _figure(metric: str, split: List[Tuple[str, Series]], note: str, title: str, xlabel: str,
            xticks: Optional[List[str]] = None, caption: str = "") -> str:
    """The panels as one figure (up to three a row), embedded; "" when matplotlib cannot draw it (with
    a warning). A series keeps its colour and marker in every panel, and one legend beside the figure
    names them when they are at most MAX_SERIES in all; else each panel has its own legend under it."""
    plt = pyplot()
    ncols = min(3, len(split))
    nrows = math.ceil(len(split) / ncols)
    labelled = [(panel, members, _labels(members, panel)) for panel, members in split]
    names = naming.dedupe(label for _, _, labels in labelled for label in labels.values())
    shared = len(names) <= MAX_SERIES
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.3 * ncols, 2.9 * nrows + 0.5), squeeze=False)
    for ax, (panel, members, labels) in zip(axes.flat, labelled):
        all_x = []
        for n, (key, points) in enumerate(members.items()):
            style = names.index(labels[key]) if shared else n
            xs = [x if isinstance(x, (int, float)) else plot_label(x) for x, _ in points]
            all_x += [x for x in xs if isinstance(x, (int, float))]
            ax.plot(xs, [v for _, v in points], marker=MARKERS[style % len(MARKERS)], markersize=4,
                    color=COLORS[style % len(COLORS)], label=plot_label(labels[key]))
        if all_x and not xticks and min(all_x) > 0 and max(all_x) / min(all_x) >= 100:
            ax.set_xscale("log")
        if xticks:
            ax.set_xticks(range(len(xticks)))
            ax.set_xticklabels([plot_label(t) for t in xticks], rotation=30, ha="right", fontsize=7)
        ax.set_title(plot_label(panel), fontsize=9)
        ax.set_xlabel(plot_label(xlabel), fontsize=8)
        ax.set_ylabel(plot_label(metric), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        if not shared:
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, frameon=False)
    for ax in list(axes.flat)[len(split):]:
        ax.set_visible(False)
    if shared:
        handles = {h.get_label(): h for ax in axes.flat for h in ax.get_lines()}
        fig.legend([handles[plot_label(n)] for n in names], [plot_label(n) for n in names], fontsize=8,
                   loc="upper left", bbox_to_anchor=(1.0, 0.9), frameon=False)
    fig.subplots_adjust(wspace=0.35, hspace=0.75 if not shared else 0.55, right=0.97 if shared else 0.9)
    fig.suptitle(plot_label(title), fontsize=10, y=1.0 + 0.04 / nrows)
    drawn = [len(members) for _, members in split]
    data = {"panels": len(split), "series": sum(drawn), "max-series": max(drawn), "legend": "yes"}
    text = "; ".join(x for x in (caption, note) if x)
    return htmlpage.embed_figure(fig, title, text, len(split) > 1, data)


def _bars(metric: str, doc: Dict[str, Any], title: str) -> str:
    """`metric` of one run per parameter path as horizontal bars (each labelled on the axis)."""
    rows = [(where or "(no parameters)", value) for where, name, value in metric_rows(doc) if name == metric]
    if not rows:
        return ""
    shown = rows[:24]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 0.8 + 0.22 * len(shown)))
    ax.barh(range(len(shown)), [v for _, v in shown], color=COLORS[0])
    ax.set_yticks(range(len(shown)))
    ax.set_yticklabels([plot_label(p) for p, _ in shown], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(plot_label(metric), fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(plot_label(title), fontsize=10)
    note = f"the first 24 of {len(rows)} parameter sets" if len(rows) > len(shown) else ""
    return htmlpage.embed_figure(fig, title, note, data={"panels": 1, "series": 1, "max-series": 1, "legend": "axis"})


def latest_plots(bench: Benchmark, run: Run) -> List[str]:
    """The plots of one run: each drawn metric against the x parameter (or per parameter set)."""
    x_param = x_axis(run.doc)
    out = []
    for metric in report_metrics(bench.metrics()):
        title = f"{bench.name}: {metric}" + (f" vs {x_param}" if x_param else "")
        series = series_against(run.doc, metric, x_param) if x_param else {}
        if series:
            split, note = panels(series)
            out.append(_figure(metric, split, note, title, x_param,
                               caption=f"run {when(run.doc.get('timestamp', ''))}"))
        else:
            out.append(_bars(metric, run.doc, title))
    return [p for p in out if p]


def history_plot(bench: Benchmark) -> str:
    """The headline metric over the last HISTORY_RUNS runs with results ("" with fewer than two)."""
    runs = bench.measured[-HISTORY_RUNS:]
    metric = bench.headline
    if len(runs) < 2 or not metric:
        return ""
    series = series_over_runs(runs, metric)
    if not series:
        return ""
    split, note = panels(series)
    older = len(bench.measured) - len(runs)
    caption = f"the last {len(runs)} runs with results" + (f" ({older} older not drawn)" if older else "")
    return _figure(metric, split, note, f"{bench.name}: {metric} over runs", "run",
                   xticks=[when(r.doc.get("timestamp", ""))[5:] for r in runs], caption=caption)


# ---- the sparkline of a benchmark ---------------------------------------------------------------


def headline_values(bench: Benchmark) -> List[Tuple[Run, float]]:
    """(run, geometric mean of the headline metric over the parameter sets all these runs share) for
    the last HISTORY_RUNS runs with results ([] without a headline metric)."""
    metric = bench.headline
    if not metric:
        return []
    runs = bench.measured[-HISTORY_RUNS:]
    per_run = [{canonical_path(r.doc, p): v for p, m, v in metric_rows(r.doc) if m == metric and v > 0}
               for r in runs]
    shared = set.intersection(*(set(v) for v in per_run if v)) if any(per_run) else set()
    out = []
    for run, values in zip(runs, per_run):
        picked = [values[k] for k in shared] if shared else list(values.values())
        if picked:
            out.append((run, math.exp(sum(math.log(v) for v in picked) / len(picked))))
    return out


def sparkline(bench: Benchmark) -> htmlpage.Html:
    """A sparkline of the headline metric over the runs, its last dot green (better than the run
    before), red (worse) or blue."""
    points = headline_values(bench)
    if not points:
        return htmlpage.Html('<span class="muted">-</span>')
    values = [v for _, v in points]
    direction = naming.metric_direction(bench.headline or "")
    color = "#3b6ea5"
    if len(values) > 1 and values[-1] != values[-2]:
        color = "#27ae60" if (values[-1] - values[-2]) * direction > 0 else "#c0392b"
    title = (f"{bench.headline}, geometric mean over the parameter sets, last {len(values)} runs: "
             + " → ".join(htmlpage.fmt_number(v) for v in values))
    return htmlpage.sparkline(values, title, last_color=color)


# ---- the page ---------------------------------------------------------------------------------


def _links(runs: Sequence[Run], most: int = 8) -> str:
    shown = ", ".join(r.link() for r in runs[:most])
    return shown + (f" and {len(runs) - most} more" if len(runs) > most else "")


def summary(benchmarks: List[Benchmark]) -> str:
    """The first screen: cards, the runs that failed (linked), each benchmark's change since its
    previous run per category, worst first."""
    runs = [r for b in benchmarks for r in b.runs]
    failed_latest = [b.latest for b in benchmarks if b.latest.doc.get("error")]
    failed_older = [r for b in benchmarks for r in b.runs[:-1] if r.doc.get("error")]
    latest = max(r.doc.get("timestamp", "") for r in runs)
    items: List[tuple] = [("runs", len(runs)), ("benchmarks", len(benchmarks)),
                          ("categories", len({b.category for b in benchmarks})), ("latest run", when(latest))]
    if failed_latest:
        items.insert(0, ("latest runs failed", f"{len(failed_latest)} of {len(benchmarks)}", "bad"))
    else:
        items.insert(0, ("latest runs ok", f"{len(benchmarks)} of {len(benchmarks)}"))
    out = ['<section class="summary" id="summary">', htmlpage.cards(items)]
    if failed_latest:
        out.append(f'<p class="error">Failed in the latest run: {_links(failed_latest)}.</p>')
    if failed_older:
        where = "; the latest runs of their benchmarks are ok" if not failed_latest else ""
        out.append(f'<p class="muted">{len(failed_older)} error(s) in older runs{where}: '
                   f"{_links(failed_older)}.</p>")
    rows = []
    for bench in benchmarks:
        error = bench.latest.doc.get("error")
        rows.append(GlanceRow(bench.category, bench.name, bench.anchor, bench.changes(),
                              [htmlpage.link(bench.latest.anchor, len(bench.runs)), sparkline(bench)],
                              problem="latest run failed" if error else "", detail=str(error or "")[:160]))
    out.append(glance(rows, [("runs", "44px"), ("trend", "124px")], CHANGE_THRESHOLD,
                      nothing="one run with results: nothing to compare yet"))
    out.append(f'<p class="muted">Worst change: of the latest run with results against the previous one, '
               f'judged as <code>compare</code> does (threshold {CHANGE_THRESHOLD:.0%}; timings of runs measured '
               f'at different times are unconfirmed, quick-profile timings not judged). Bar: left of the line = '
               f'worse, right = better, dashed = ±{CHANGE_THRESHOLD:.0%}. Trend: the headline metric (geometric '
               f'mean over parameter sets) over the last {HISTORY_RUNS} runs.</p>')
    out.append("</section>")
    return "\n".join(out)


def run_header(run: Run) -> str:
    """A run's header line: when, file, commit, profile, backend, machine, python, duration."""
    meta = run.meta
    parts = [f"latest run {when(run.doc.get('timestamp', ''))}", os.path.basename(run.path)]
    for label, value in (("commit", str(meta.get("commit") or "")[:10]), ("profile", meta.get("profile")),
                         ("backend", meta.get("backend")), ("machine", meta.get("machine")),
                         ("python", meta.get("python_version") or meta.get("python"))):
        if value:
            parts.append(f"{label} {value}")
    if naming.is_finite(meta.get("execution_time")):
        parts.append(f"{htmlpage.fmt_number(float(meta['execution_time']))} s")
    return f'<p class="runhead">{htmlpage.esc(" · ".join(parts))}</p>'


def metrics_table(doc: Dict[str, Any]) -> List[str]:
    """One run's metrics, a row per parameter path (each value with the interquartile range of its
    samples under it, when recorded), and the note explaining those ranges."""
    rows = metric_rows(doc)
    if not rows:
        return []
    metrics = naming.dedupe(m for _, m, _ in rows)
    paths = naming.dedupe(p for p, _, _ in rows)
    cells = {(p, m): v for p, m, v in rows}
    table_rows = [[htmlpage.breakable(p or "(no parameters)")] + [_cell(doc, cells.get((p, m)), p, m)
                                                                   for m in metrics] for p in paths]
    out = [htmlpage.table(["parameters"] + metrics, table_rows)]
    if any(isinstance(cell, htmlpage.Html) for row in table_rows for cell in row[1:]):
        out.append('<p class="muted">value [a–b]: the median and the interquartile range (25th–75th '
                   'percentile) of the measured samples.</p>')
    return out


def _cell(doc: Dict[str, Any], value: Any, path: str, metric: str) -> Any:
    """One table cell: the value, with ``[q25–q75]`` of its samples under it when recorded (and not one value)."""
    spread = sample_quartiles(metric_stats(doc, path, metric))
    low, high = (htmlpage.fmt_number(q) for q in spread[:2]) if spread else ("", "")
    if value is not None and low != high:  # (a range of one value says nothing)
        return htmlpage.Html(f'{htmlpage.esc(htmlpage.fmt_number(value))}<span class="sub">'
                             f'[{htmlpage.esc(low)}–{htmlpage.esc(high)}]</span>')
    return value if value is not None else ""


def unstable_note(unstable: List[Dict[str, Any]]) -> List[str]:
    """A warning listing (up to 20 of) the timings unstable on this machine, if any."""
    if not unstable:
        return []
    items = "".join(f"<li>{htmlpage.esc(u.get('asv_name', ''))} {htmlpage.esc(u.get('params', ''))}: "
                    f"spread {100 * float(u.get('spread', 0)):.0f}% of the median "
                    f"({int(u.get('n', 0))} samples)</li>" for u in unstable[:20])
    return [f'<p class="error">Unstable on this machine (spread over '
            f'{100 * UNSTABLE_SPREAD:.0f}% of the median):</p><ul>{items}</ul>']


def runs_table(bench: Benchmark) -> str:
    """A row (with an anchor) per run, newest first: the last LISTED_RUNS and every older one that failed."""
    values = {id(r): v for r, v in headline_values(bench)}
    newest = list(reversed(bench.runs))
    listed = [r for n, r in enumerate(newest) if n < LISTED_RUNS or r.doc.get("error")]
    rows = [[htmlpage.Html(f'<span class="nowrap">{htmlpage.esc(when(r.doc.get("timestamp", "")))}</span>'),
             str(r.meta.get("commit") or "")[:10], r.meta.get("profile") or "",
             htmlpage.Html(f'<span class="error">error: {htmlpage.esc(r.doc["error"])}</span>')
             if r.doc.get("error") else "ok", htmlpage.breakable(os.path.basename(r.path)),
             values.get(id(r), "")] for r in listed]
    headline = f"{bench.headline} (geometric mean)" if bench.headline else "headline"
    out = htmlpage.table(["run", "commit", "profile", "status", "file", headline], rows,
                         ["failed" if r.doc.get("error") else "" for r in listed], text_columns=5,
                         row_ids=[r.anchor for r in listed])
    if len(listed) < len(bench.runs):
        out += f'<p class="muted">{len(bench.runs) - len(listed)} older runs without errors not listed.</p>'
    return out


def section(bench: Benchmark) -> str:
    """A benchmark's section: header line, latest results, plots, history, runs."""
    latest = bench.latest
    out = [f'<h2 id="{bench.anchor}">{htmlpage.esc(bench.category)} / {htmlpage.esc(bench.name)}</h2>',
           run_header(latest)]
    if latest.doc.get("error"):
        out.append(f'<p class="error">The latest run failed ({htmlpage.link(latest.anchor, "its row")}): '
                   f'{htmlpage.esc(latest.doc["error"])}</p>')
    measured = bench.measured
    if not measured:
        out.append("<p>No run of this benchmark has results.</p>")
    else:
        shown = measured[-1]
        if shown is not latest:
            out.append(f'<p class="muted">Tables and plots below: the latest run with results, '
                       f'{shown.link()}.</p>')
        out += metrics_table(shown.doc) + unstable_note(shown.meta.get("unstable") or [])
        plots = latest_plots(bench, shown)
        history = history_plot(bench)
        if history:
            plots.append(history)
        if plots:
            out.append(f'<div class="plots">{"".join(plots)}</div>')
    out.append("<h3>Runs</h3>" + runs_table(bench))
    return "\n".join(out)


def side_by_side(benchmarks: List[Benchmark]) -> str:
    """The implementations' side-by-side section (:mod:`.sidebyside`) of the latest run with results
    of each of their benchmarks (else its latest run); "" when the report holds none."""
    from . import sidebyside  # it draws with this module's palette: imported once both are loaded

    return sidebyside.section([(b.measured or b.runs)[-1].doc for b in benchmarks
                               if b.category == sidebyside.CATEGORY])


def write_report(results_dir: str, category: Optional[str] = None, benchmark_name: Optional[str] = None,
                 output_dir: Optional[str] = None) -> str:
    """Write the report of the selected results of `results_dir`; return its path (default folder
    ``<results_dir>/reports``). ResultsError if there are none."""
    found = find_documents(results_dir, category, benchmark_name)
    if not found:
        scope = " ".join(x for x in (category, benchmark_name) if x) or "any benchmark"
        raise ResultsError(f"no results for {scope} in {results_dir}")
    groups: Dict[Tuple[str, str], List[Run]] = {}
    for path, doc in found:
        groups.setdefault((doc["category"], doc["benchmark"]), []).append(Run(path, doc))
    benchmarks = [Benchmark(cat, bench, runs) for (cat, bench), runs in sorted(groups.items())]
    scope = "/".join(x for x in (category, benchmark_name) if x) or "all"
    body = [summary(benchmarks), side_by_side(benchmarks)] + [section(b) for b in benchmarks]
    body.append(f'<p class="muted">Generated {_dt.datetime.now():%Y-%m-%d %H:%M:%S} from '
                f'{htmlpage.esc(os.path.abspath(results_dir))}.</p>')
    folder = Path(output_dir) if output_dir else Path(results_dir) / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"report_{safe_name(scope.replace('/', '_'))}_{_dt.datetime.now():%Y%m%d_%H%M%S}.html"
    target.write_text(htmlpage.page(f"AgentMemory benchmark report ({scope})", "\n".join(body)), encoding="utf-8")
    return str(target)
