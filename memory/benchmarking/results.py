"""BenchmarkResults: save, list, load, tabulate and plot documented results; self-contained HTML reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from . import naming
from .documents import (ResultsError, confined_path, find_documents, metric_rows, param_prefixes, new_document,
                        read_document, warn, write_new_document)

if TYPE_CHECKING:  # pandas and matplotlib load only when a table or a plot is asked for
    import pandas
    from matplotlib.figure import Figure


def plot_label(text: Any) -> str:
    """`text` as matplotlib draws it literally: ``$`` escaped (no mathtext, whose parser fails on names
    like ``a$\\frac{$``) and unprintable characters as ``?``. Every label, title and tick text passes here."""
    shown = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    return shown.replace("$", r"\$")


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (files and inline images, never a window): what every
    chart of the results, report and comparison pages draws with."""
    import matplotlib
    if matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _x_and_rest(parts: List[str], prefixes: List[str]) -> Tuple[Any, List[str]]:
    """(the x value, the other path keys) of one parameter path: the first key that one of the
    `prefixes` encodes (``batch_100`` → 100) is x; the rest names the series it belongs to."""
    x_value, rest = None, []
    for part in parts:
        hit = next((v for v in (naming.key_value(part, prefix) for prefix in prefixes) if v is not None), None)
        if hit is not None and x_value is None:
            x_value = hit
        else:
            rest.append(part)
    return x_value, rest


#: At most this many labelled series per plot (distinct tab10 colours, a legend); more are cut, and
#: the legend's title says which were kept.
MAX_SERIES = 8

#: compare_results' identifying columns, before the metric columns.
ID_COLUMNS = ("run", "benchmark", "category", "timestamp", "file", "commit", "error")


class _Line(NamedTuple):
    """One plotted series: its legend label, its points, and the position (1..) of its run in the
    files given (None when the series spans runs), so the series cap can keep the latest runs."""

    label: str
    points: List[Tuple[Any, float]]
    run: Optional[int]


def _series(doc: Dict[str, Any], metric: str, x_axis: Optional[str]) -> Dict[str, List[Tuple[Any, float]]]:
    """{other parameters: [(x, value), ...]} for `metric` against parameter `x_axis` in one document
    (without `x_axis`: x is None): the points of one run, a list per combination of the rest."""
    prefixes = param_prefixes(doc, x_axis) if x_axis else []
    series: Dict[str, List[Tuple[Any, float]]] = {}
    for where, name, value in metric_rows(doc):
        if name != metric:
            continue
        x_value, rest = _x_and_rest(where.split(naming.PATH_SEP) if where else [], prefixes)
        if not x_axis or x_value is not None:
            series.setdefault(" ".join(rest), []).append((x_value, value))
    return series


def _run_label(doc: Dict[str, Any], run: int, multi: bool) -> str:
    """How a legend names a run: ``[benchmark] run N timestamp`` (N as in compare_results' ``run``)."""
    return " ".join(x for x in (doc["benchmark"] if multi else "", f"run {run}", doc.get("timestamp", "")) if x)


def _lines_against_param(runs: List[Tuple[int, Dict[str, Any]]], metric: str, x_axis: str,
                         multi: bool) -> List[_Line]:
    """`metric` against parameter `x_axis` (``batch_100`` → 100): a series per run and combination of
    the other parameters, points sorted by x."""
    lines = []
    for run, doc in runs:
        for rest, points in _series(doc, metric, x_axis).items():
            numeric = all(isinstance(x, (int, float)) for x, _ in points)
            points = sorted(points, key=lambda p: p[0] if numeric else str(p[0]))
            lines.append(_Line(f"{_run_label(doc, run, multi)} {rest}".strip(), points, run))
    return lines


def _lines_against_metric(runs: List[Tuple[int, Dict[str, Any]]], metric: str, x_axis: str,
                          multi: bool) -> List[_Line]:
    """`metric` against metric `x_axis`, a series per parameter path with one point per run (the two
    metrics at that path), so runs can be compared on, e.g., throughput against peak memory."""
    lines: Dict[str, List[Tuple[Any, float]]] = {}
    for _, doc in runs:
        values: Dict[str, Dict[str, float]] = {}
        for where, name, value in metric_rows(doc):
            if name in (metric, x_axis):
                values.setdefault(where, {})[name] = value
        for where, pair in values.items():
            if metric in pair and x_axis in pair:
                label = f"{doc['benchmark']} {where}".strip() if multi else (where or metric)
                lines.setdefault(label, []).append((pair[x_axis], pair[metric]))
    return [_Line(label, points, None) for label, points in lines.items()]


def _lines_per_run(runs: List[Tuple[int, Dict[str, Any]]], metric: str, multi: bool) -> List[_Line]:
    """`metric` run after run (x: the run's timestamp), a series per parameter path."""
    lines: Dict[str, List[Tuple[Any, float]]] = {}
    for _, doc in runs:
        for where, name, value in metric_rows(doc):
            if name == metric:
                label = f"{doc['benchmark']} {where}".strip() if multi else (where or metric)
                lines.setdefault(label, []).append((doc.get("timestamp", ""), value))
    return [_Line(label, points, None) for label, points in lines.items()]


def _cap_series(lines: List[_Line], runs: List[Tuple[int, Dict[str, Any]]]) -> Tuple[List[_Line], str]:
    """At most MAX_SERIES of `lines` and a note saying what was kept ("" when all): the series of the
    latest runs (by timestamp) that fit when the series are per run, then the first series, because
    a legend of more entries (or colours beyond tab10) can no longer be told apart."""
    if len(lines) <= MAX_SERIES:
        return lines, ""
    notes = []
    if all(line.run is not None for line in lines):
        per_run: Dict[int, int] = {}
        for line in lines:
            per_run[line.run] = per_run.get(line.run, 0) + 1
        stamps = {run: doc.get("timestamp", "") for run, doc in runs}
        kept, total = set(), 0
        for run in sorted(per_run, key=lambda r: (stamps[r], r), reverse=True):  # latest first
            if kept and total + per_run[run] > MAX_SERIES:
                break
            kept.add(run)
            total += per_run[run]
        if len(kept) < len(per_run):
            notes.append(f"latest {len(kept)} of {len(per_run)} runs")
        lines = [line for line in lines if line.run in kept]
    if len(lines) > MAX_SERIES:
        notes.append(f"first {MAX_SERIES} of {len(lines)} series")
        lines = lines[:MAX_SERIES]
    return lines, "; ".join(notes)


def _draw(ax: Any, lines: List[_Line], log_x: bool, markers_only: bool = False) -> None:
    """Draw `lines` in distinct tab10 colours (numeric x as numbers, others as categories); a log x
    axis when `log_x` and the numeric x values span 100x or more."""
    from matplotlib import colormaps

    colours = colormaps["tab10"]
    all_x: List[float] = []
    for i, line in enumerate(lines):
        numeric = all(naming.is_finite(x) for x, _ in line.points)
        xs = [x if numeric else plot_label(x) for x, _ in line.points]
        if numeric:
            all_x += xs
        ax.plot(xs, [y for _, y in line.points], marker="o", linestyle="none" if markers_only else "-",
                color=colours(i % colours.N), label=plot_label(line.label))
    if log_x and all_x and min(all_x) > 0 and max(all_x) / min(all_x) >= 100:
        ax.set_xscale("log")


class BenchmarkResults:
    """Manage documented result files under `results_dir` (``<category>/<benchmark>_<timestamp>.json``)."""

    def __init__(self, results_dir: str = "benchmark_results"):
        self.results_dir = str(results_dir)

    # ---- files --------------------------------------------------------------------------------

    def save_result(self, benchmark_name: str, category: str, results: Dict[str, Any],
                    metadata: Optional[Dict[str, Any]] = None, timestamp: Optional[str] = None) -> str:
        """Write a result in the documented format; return its path, always inside results_dir (names
        become safe file names; ResultsError for a category folder linking elsewhere)."""
        return write_new_document(self.results_dir, new_document(benchmark_name, category, results, metadata,
                                                                 stamp=timestamp))

    def load_result(self, filepath: str) -> Dict[str, Any]:
        """Load one result file (a path, or a name relative to results_dir); ResultsError if invalid."""
        path = Path(filepath)
        if not path.exists() and (Path(self.results_dir) / path).exists():
            path = Path(self.results_dir) / path
        return read_document(path)

    def list_results(self, category: Optional[str] = None, benchmark_name: Optional[str] = None) -> List[str]:
        """Paths of result files, oldest first, optionally of one category and/or benchmark; corrupt
        files are skipped with a warning."""
        return [path for path, _ in find_documents(self.results_dir, category, benchmark_name)]

    def _load_many(self, filepaths: Sequence[str]) -> List[Tuple[int, str, Dict[str, Any]]]:
        """(position 1.. in `filepaths`, path, document) of each loadable file; others are skipped
        with a warning (their position stays unused, so ``run`` N is always the N-th path given)."""
        loaded = []
        for run, path in enumerate(filepaths, start=1):
            try:
                loaded.append((run, str(path), self.load_result(path)))
            except ResultsError as exc:
                warn(f"skipping {exc}")
        return loaded

    # ---- tables -------------------------------------------------------------------------------

    def compare_results(self, filepaths: Sequence[str], metrics: Optional[Sequence[str]] = None) -> pandas.DataFrame:
        """A pandas DataFrame with a row per result file: the identifying columns ``run`` (1.. in the
        order given; a skipped unreadable file leaves its number out), ``benchmark``, ``category``,
        ``timestamp``, ``file``, ``commit``, ``error``, then a column per metric with its parameter
        path flattened by underscores (``complexity_1_batch_100_throughput_ops_per_second``, the
        reference's names). A flattened name that another path or an identifying column already has
        keeps its path instead: ``results/<path>/<metric>``. `metrics` keeps only those metric columns
        (leaf names like "throughput_ops_per_second", or whole column names)."""
        import pandas as pd

        loaded = self._load_many(filepaths)
        columns = self._metric_columns(doc for _, _, doc in loaded)
        rows = []
        for run, path, doc in loaded:
            row: Dict[str, Any] = {"run": run, "benchmark": doc["benchmark"], "category": doc["category"],
                                   "timestamp": doc.get("timestamp", ""), "file": path,
                                   "commit": (doc.get("metadata") or {}).get("commit"),
                                   "error": doc.get("error")}
            for parts, value in naming.flatten(doc.get("results", {})).items():
                column = columns[parts]
                if metrics and parts[-1] not in metrics and column not in metrics:
                    continue
                row[column] = value
            rows.append(row)
        return pd.DataFrame(rows, columns=None if rows else list(ID_COLUMNS))

    @staticmethod
    def _metric_columns(docs: Any) -> Dict[Tuple[str, ...], str]:
        """{results key path: its column name} over `docs`, first seen first: the keys joined by
        ``_``, or ``results/`` + the keys joined by ``/`` when that name is taken (then ``#2``…)."""
        taken, out = set(ID_COLUMNS), {}
        for doc in docs:
            for parts in naming.flatten(doc.get("results", {})):
                if parts in out:
                    continue
                name = "_".join(parts)
                if name in taken:
                    name = "results/" + naming.join_path(parts)
                    base, n = name, 2
                    while name in taken:
                        name, n = f"{base}#{n}", n + 1
                taken.add(name)
                out[parts] = name
        return out

    # ---- plots --------------------------------------------------------------------------------

    def plot_comparison(self, filepaths: Sequence[str], metric: str, x_axis: Optional[str] = None,
                        title: Optional[str] = None) -> Figure:
        """A matplotlib Figure of leaf metric `metric` across the runs in `filepaths`.

        `x_axis` a parameter (e.g. "batch_size", read from path keys like "batch_100"): a line per run
        and combination of the other parameters. `x_axis` a metric (e.g. "total_time_seconds"): one
        point per run for each parameter path, metric against metric. No `x_axis`: a line per parameter
        path, one point per run (in the order given). At most MAX_SERIES (8) labelled series in
        distinct colours with a legend; when there are more, the latest runs that fit (else the first
        series) are drawn and the legend's title says so (e.g. "latest 4 of 25 runs"). ValueError
        when no run has the metric (or `x_axis` is neither a parameter nor a metric of those runs)."""
        plt = pyplot()
        runs = [(run, doc) for run, _, doc in self._load_many(filepaths)]
        multi = len({(d["category"], d["benchmark"]) for _, d in runs}) > 1
        mode = "run"
        if x_axis:
            lines, mode = _lines_against_param(runs, metric, x_axis, multi), "param"
            if not lines and any(name == x_axis for _, d in runs for _, name, _ in metric_rows(d)):
                lines, mode = _lines_against_metric(runs, metric, x_axis, multi), "metric"
        else:
            lines = _lines_per_run(runs, metric, multi)
        if not lines:
            available = sorted({m for _, d in runs for _, m, _ in metric_rows(d)})
            raise ValueError(f"no data for metric {metric!r}"
                             + (f" with x_axis {x_axis!r} (a parameter of the path keys, or a metric of "
                                f"the same runs)" if x_axis else "")
                             + (f"; available metrics: {', '.join(available)}" if available else
                                "; no results loaded"))
        lines, note = _cap_series(lines, runs)
        fig, ax = plt.subplots(figsize=(9, 4.8))
        _draw(ax, lines, log_x=mode != "run", markers_only=mode == "metric")
        if mode == "run":
            fig.autofmt_xdate()
        ax.set_xlabel(plot_label(x_axis or "run"))
        ax.set_ylabel(plot_label(metric))
        ax.set_title(plot_label(title or (f"{metric} vs {x_axis}" if x_axis else f"{metric} per run")))
        ax.grid(True, alpha=0.3)
        ax.legend(title=plot_label(note) if note else None, fontsize="small", title_fontsize="small",
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        fig.tight_layout()
        return fig

    def save_plot(self, fig: Figure, filename: str, output_dir: Optional[str] = None) -> str:
        """Save `fig` as `filename` (PNG at 100 dpi, or the format its extension names) in `output_dir`,
        by default ``<results_dir>/plots/`` (created when missing; so ``save_plot(fig, "x.png")`` of
        ``BenchmarkResults("benchmark_results")`` writes ``benchmark_results/plots/x.png``); return
        the path written. ResultsError for a `filename` that leads outside that folder."""
        folder = Path(output_dir) if output_dir else Path(self.results_dir) / "plots"
        folder.mkdir(parents=True, exist_ok=True)
        target = confined_path(folder, filename)
        fig.savefig(target, dpi=100, bbox_inches="tight")
        return str(target)

    # ---- report -------------------------------------------------------------------------------

    def generate_report(self, category: Optional[str] = None, benchmark_name: Optional[str] = None,
                        output_dir: Optional[str] = None) -> str:
        """Write one self-contained HTML page for the selected results (a summary first: per category,
        each benchmark's change since its previous run, worst first; then a section per benchmark
        with tables, plots and its runs; see :mod:`memory.benchmarking.report`); return its path
        (default folder ``<results_dir>/reports``). ResultsError if there are none."""
        from .report import write_report

        return write_report(self.results_dir, category, benchmark_name, output_dir)
