"""The side-by-side page of the ``implementations`` category: other memory stores on the same work.

From the latest document of each of the category's benchmarks (one per workload: batch store, read
by id, top-10 similarity, step range, attribute equality, recall, footprint) it builds one table per
workload: a row per metric and combination of the other parameters (``n_memories``), a column per
implementation; each cell holds the document's median with the interquartile range of its samples,
its ratio to the best implementation of the row and to the numpy floor (exact brute force over one
matrix per agent). Ratios are costs: above 1 is always slower (or bigger, or less accurate), whether
the metric is a time (value / best) or a rate (best / value). recall@10 of the same ``n_memories``
stands beside the similarity latency. An implementation not measured (package missing, server
down: asv records n/a) is a "skipped" cell, never an error. A plot draws the top-10 latency and the
store throughput against ``n_memories`` (log-log, one line per implementation, the interquartile
range as error bars): how each implementation's cost grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from . import htmlpage, naming
from .compare import is_smoke
from .documents import metric_rows, metric_stats, sample_quartiles
from .report import COLORS, MARKERS, when
from .results import plot_label, pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CATEGORY = "implementations"
IMPLEMENTATION_PARAM = "implementation"
SIZE_PARAM = "n_memories"
#: The reference every ratio to the floor divides by: a numpy matrix per agent, exact search.
FLOOR = "numpy"

#: The known workloads (benchmark name → title), in the page's order; others follow by name.
WORKLOADS = {"store_batch": "Batch store", "read_by_id": "Read by id", "similarity_search": "Top-10 similarity search",
             "step_range": "Step range", "attribute_filter": "Attribute equality", "quality": "Recall@10",
             "footprint": "Footprint"}
#: A workload whose table carries another's metric beside its own: {host: (guest benchmark, metric token)}.
BESIDE = {"similarity_search": ("quality", "recall")}
#: The workloads the scaling plot draws against SIZE_PARAM, one panel each.
PLOTTED = ("similarity_search", "store_batch")

Params = Tuple[Tuple[str, Any], ...]  # the other parameters of a row, (name, value) in the grid's order


@dataclass(frozen=True)
class Cell:
    """One implementation's measurement in a row: its median (None when not measured), the
    interquartile range of its samples, and its cost ratios to the row's best and to the floor."""

    status: str  # "ok" | "skipped" | "failed" | "n/a"
    value: Optional[float] = None
    q25: Optional[float] = None
    q75: Optional[float] = None
    samples: int = 0
    ratio_to_best: Optional[float] = None
    ratio_to_floor: Optional[float] = None
    beside: Optional[float] = None  # the guest metric (recall@10) at the same parameters


@dataclass
class Row:
    """One metric at one combination of the other parameters, a cell per implementation."""

    metric: str
    params: Params
    cells: Dict[str, Cell]
    beside_metric: Optional[str] = None

    @property
    def best(self) -> Optional[str]:
        """The implementation with ratio 1.0 to the best (the first of them), or None."""
        return next((name for name, cell in self.cells.items() if cell.ratio_to_best == 1.0), None)

    @property
    def label(self) -> str:
        """``n_memories = 1,000`` (the metric's name when there are no other parameters)."""
        return ", ".join(f"{name} = {htmlpage.fmt_number(value)}" for name, value in self.params) or "(no parameters)"


@dataclass
class WorkloadTable:
    """A workload's table: the implementations of its document's grid as columns, and its rows."""

    benchmark: str
    title: str
    doc: Dict[str, Any]
    implementations: List[str]
    rows: List[Row] = field(default_factory=list)

    @property
    def floor_measured(self) -> bool:
        """True when the floor has a value in some row (then the table has floor ratios)."""
        return any(row.cells.get(FLOOR, Cell("n/a")).status == "ok" for row in self.rows)

    def series(self, metric: str) -> Dict[str, List[Tuple[float, Cell]]]:
        """{implementation: [(n_memories, cell), ...]} of `metric`'s measured cells, by n_memories."""
        out: Dict[str, List[Tuple[float, Cell]]] = {}
        for row in self.rows:
            size = dict(row.params).get(SIZE_PARAM)
            if row.metric != metric or not naming.is_finite(size):
                continue
            for name, cell in row.cells.items():
                if cell.status == "ok":
                    out.setdefault(name, []).append((float(size), cell))
        return {name: sorted(points, key=lambda p: p[0]) for name, points in out.items()}


@dataclass
class SideBySide:
    """The page's content: a table per workload, in WORKLOADS order."""

    tables: List[WorkloadTable]

    @property
    def implementations(self) -> List[str]:
        """Every implementation of the tables' grids, first seen first."""
        return naming.dedupe(name for table in self.tables for name in table.implementations)

    @property
    def floor_measured(self) -> bool:
        """True when some table measured the numpy floor."""
        return any(table.floor_measured for table in self.tables)


# ---- reading the documents ---------------------------------------------------------------------


def _meta(doc: Dict[str, Any], key: str) -> Dict[str, Any]:
    value = (doc.get("metadata") or {}).get(key)
    return value if isinstance(value, dict) else {}


def path_params(doc: Dict[str, Any], path: str) -> Dict[str, Any]:
    """{parameter: value} of a parameter path of `doc` (``implementation_numpy/n_memories_1000``)
    plus its fixed parameters (those measured at one value only, which the path leaves out)."""
    keys = {name: str(key) for name, key in _meta(doc, "param_keys").items()}
    for name in _meta(doc, "asv_params"):
        keys.setdefault(name, naming.param_key(name))
    out: Dict[str, Any] = {}
    for part in (p for p in path.split(naming.PATH_SEP) if p):
        for name, prefix in sorted(keys.items(), key=lambda item: -len(item[1])):  # n_memories before n
            value = naming.key_value(part, prefix)
            if value is not None and name not in out:
                out[name] = value
                break
    for name, value in _meta(doc, "fixed_params").items():
        out.setdefault(name, value)
    return out


def direction(doc: Dict[str, Any], metric: str) -> int:
    """+1 when higher is better, -1 when lower is: the document's declaration, else the naming rules."""
    declared = _meta(doc, "metric_directions").get(metric)
    return declared if declared in (1, -1) else naming.metric_direction(metric)


def shown_metrics(doc: Dict[str, Any]) -> List[str]:
    """The metrics a workload's table shows: of each timing and its derived twins one, the latency
    per operation when recorded, else the throughput when a call handles several items, else the
    timing itself; every other directed metric (sizes, recall) as it is."""
    metrics = naming.dedupe(m for _, m, _ in metric_rows(doc))
    derived = _meta(doc, "derived_metrics")
    many_items = {m for _, m, v in metric_rows(doc) if m.endswith("items_processed") and v > 1}
    out = []
    for metric in metrics:
        if derived.get(metric) in metrics or direction(doc, metric) == 0:
            continue  # a twin (chosen with its timing) or a count
        twins = [t for t, source in derived.items() if source == metric and t in metrics]
        latency = [t for t in twins if "latency" in t]
        items = metric[:-len("total_time_seconds")] + "items_processed"  # the timing's count of items
        throughput = [t for t in twins if "throughput" in t and items in many_items]
        out.append((latency or throughput or [metric])[0])
    return out


def _not_measured(doc: Dict[str, Any]) -> Dict[Tuple[str, str], Dict[Params, str]]:
    """{(asv benchmark, implementation): {other parameters: "skipped" | "failed"}} of the grid's
    combinations asv did not measure."""
    out: Dict[Tuple[str, str], Dict[Params, str]] = {}
    for status in ("skipped", "failed"):
        for entry in (doc.get("metadata") or {}).get(status) or []:
            if not isinstance(entry, dict):
                continue
            values = path_params(doc, str(entry.get("params") or ""))
            name = values.pop(IMPLEMENTATION_PARAM, None)
            if name is not None:
                out.setdefault((str(entry.get("asv_name")), str(name)), {})[_row_params(doc, values)] = status
    return out


def _row_params(doc: Dict[str, Any], values: Dict[str, Any]) -> Params:
    order = list(_meta(doc, "asv_params")) + sorted(values)
    return tuple((name, values[name]) for name in naming.dedupe(order) if name in values)


def _ratio(value: float, reference: float, sign: int) -> Optional[float]:
    """The cost of `value` against `reference`: value / reference for a lower-is-better metric,
    reference / value for a higher-is-better one; None when undefined (a zero divisor)."""
    top, bottom = (value, reference) if sign < 0 else (reference, value)
    if bottom > 0:
        return top / bottom
    return 1.0 if top == bottom else None


def _rows(doc: Dict[str, Any], implementations: List[str]) -> List[Row]:
    """A row per shown metric and combination of the other parameters, its cells and ratios."""
    values: Dict[Tuple[str, Params], Dict[str, Cell]] = {}
    for path, metric, value in metric_rows(doc):
        params = path_params(doc, path)
        name = params.pop(IMPLEMENTATION_PARAM, None)
        if name is None or not naming.is_finite(value):
            continue
        spread = sample_quartiles(metric_stats(doc, path, metric))
        low, high, count = spread if spread else (None, None, 0)
        values.setdefault((metric, _row_params(doc, params)), {})[str(name)] = Cell("ok", value, low, high, count)
    missing = _not_measured(doc)
    sources = _meta(doc, "metric_sources")
    shown = shown_metrics(doc)
    rows = []
    for metric in shown:
        source = str(sources.get(metric) or "")
        sign = direction(doc, metric)
        for (m, params), measured in values.items():
            if m != metric:
                continue
            best = (min if sign < 0 else max)(c.value for c in measured.values())
            floor = measured.get(FLOOR)
            cells = {}
            for name in naming.dedupe(list(implementations) + list(measured)):
                cell = measured.get(name)
                if cell is None:
                    cells[name] = Cell(missing.get((source, name), {}).get(params, "n/a"))
                    continue
                cells[name] = replace(cell, ratio_to_best=_ratio(cell.value, best, sign),
                                      ratio_to_floor=_ratio(cell.value, floor.value, sign) if floor else None)
            rows.append(Row(metric, params, cells))
    return sorted(rows, key=lambda r: (shown.index(r.metric), [_sort_key(v) for _, v in r.params]))


def _sort_key(value: Any) -> Tuple[int, Any]:
    return (0, value) if naming.is_finite(value) else (1, str(value))


def _add_beside(host: WorkloadTable, guest: WorkloadTable, token: str) -> bool:
    """Put the guest's first metric containing `token` into the host's cells of the same parameters
    and implementation; True when some cell got one."""
    metric = next((m for m in shown_metrics(guest.doc) if token in m), None)
    by_params = {row.params: row for row in guest.rows if row.metric == metric}
    joined = False
    for row in host.rows:
        other = by_params.get(row.params)
        if other is None:
            continue
        row.beside_metric = metric
        for name, cell in row.cells.items():
            guest_cell = other.cells.get(name)
            if guest_cell is not None and guest_cell.status == "ok":
                row.cells[name] = replace(cell, beside=guest_cell.value)
                joined = True
    return joined


def build(documents: Sequence[Dict[str, Any]]) -> SideBySide:
    """The side-by-side tables of the ``implementations`` documents among `documents` (the latest
    per benchmark wins when several are given); a guest table merged beside its host is not repeated."""
    latest: Dict[str, Dict[str, Any]] = {}
    for doc in sorted((d for d in documents if d.get("category") == CATEGORY), key=lambda d: d.get("timestamp", "")):
        latest[doc["benchmark"]] = doc
    tables: Dict[str, WorkloadTable] = {}
    for benchmark in sorted(latest, key=lambda b: (list(WORKLOADS).index(b) if b in WORKLOADS else len(WORKLOADS), b)):
        doc = latest[benchmark]
        grid = [str(v) for v in _meta(doc, "asv_params").get(IMPLEMENTATION_PARAM) or []]
        table = WorkloadTable(benchmark, WORKLOADS.get(benchmark, benchmark.replace("_", " ").capitalize()), doc, grid)
        table.rows = _rows(doc, grid)
        table.implementations = naming.dedupe(grid + [n for row in table.rows for n in row.cells])
        tables[benchmark] = table
    for host, (guest, token) in BESIDE.items():
        if host in tables and guest in tables and _add_beside(tables[host], tables[guest], token):
            del tables[guest]
    return SideBySide(list(tables.values()))


# ---- the plot ----------------------------------------------------------------------------------


def _plotted(page: SideBySide) -> List[Tuple[WorkloadTable, str, Dict[str, List[Tuple[float, Cell]]]]]:
    """(table, metric, series) of each PLOTTED workload with two sizes or more of some implementation."""
    out = []
    for table in sorted((t for t in page.tables if t.benchmark in PLOTTED), key=lambda t: PLOTTED.index(t.benchmark)):
        for metric in shown_metrics(table.doc)[:1]:
            series = table.series(metric)
            if any(len(points) > 1 for points in series.values()):
                out.append((table, metric, series))
    return out


def scaling_figure(page: SideBySide) -> Optional[Figure]:
    """Top-10 latency and store throughput against n_memories, log-log, a line per implementation
    (one colour each in every panel) with the interquartile range as error bars; None when no
    plotted workload has two sizes."""
    panels = _plotted(page)
    if not panels:
        return None
    plt = pyplot()
    names = page.implementations
    fig, axes = plt.subplots(1, len(panels), figsize=(5.4 * len(panels), 3.9), squeeze=False)
    for ax, (table, metric, series) in zip(axes.flat, panels):
        for name, points in series.items():
            style = names.index(name)  # one colour per implementation in every panel
            xs = [x for x, _ in points]
            ys = [c.value for _, c in points]
            low = [max(0.0, c.value - c.q25) if c.q25 is not None else 0.0 for _, c in points]
            high = [max(0.0, c.q75 - c.value) if c.q75 is not None else 0.0 for _, c in points]
            ax.errorbar(xs, ys, yerr=[low, high], marker=MARKERS[style % len(MARKERS)], markersize=4, capsize=3,
                        color=COLORS[style % len(COLORS)], label=plot_label(name), linewidth=1.4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(plot_label(f"{table.title}: {metric_title(metric)}"), fontsize=9)
        ax.set_xlabel(plot_label(SIZE_PARAM), fontsize=8)
        ax.set_ylabel(plot_label(f"{metric} ({'higher' if direction(table.doc, metric) > 0 else 'lower'} is better)"),
                      fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="both", alpha=0.25)
    handles = {h.get_label(): h for ax in axes.flat for h in ax.get_legend_handles_labels()[0]}
    shown = [plot_label(n) for n in names if plot_label(n) in handles]
    fig.legend([handles[n] for n in shown], shown, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 0.9),
               frameon=False)
    fig.suptitle("How each implementation's cost grows with the memories it holds", fontsize=10)
    fig.tight_layout()
    return fig


def write_scaling_plot(page: SideBySide, path: str) -> Optional[str]:
    """Save :func:`scaling_figure` as a PNG at `path` (folders made); its path, or None without a figure."""
    fig = scaling_figure(page)
    if fig is None:
        return None
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=90, bbox_inches="tight")
    pyplot().close(fig)
    return str(path)


# ---- the HTML section --------------------------------------------------------------------------


def metric_title(metric: str) -> str:
    """A metric as a column of prose reads it: ``latency_seconds`` → ``latency``."""
    for suffix in ("_seconds", "_ops_per_second", "_bytes"):
        if metric.endswith(suffix):
            return metric[:-len(suffix)].replace("_", " ") + (" per second" if suffix == "_ops_per_second" else "")
    return metric.replace("_at_", "@").replace("_", " ")


def format_measure(metric: str, value: Optional[float]) -> str:
    """`value` in the unit its name ends with, scaled for reading: 0.000123 s → ``123 µs``, bytes in
    KiB/MiB, rates in k/M per second; "" for None."""
    if value is None:
        return ""
    if metric.endswith("_seconds"):
        scales: Tuple[Tuple[float, str], ...] = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))
    elif metric.endswith("_bytes"):
        scales = ((1024.0 ** 3, "GiB"), (1024.0 ** 2, "MiB"), (1024.0, "KiB"), (1.0, "B"))
    elif metric.endswith("ops_per_second"):
        scales = ((1e6, "M/s"), (1e3, "k/s"), (1.0, "/s"))
    else:
        return htmlpage.fmt_number(value)
    factor, unit = next(((f, u) for f, u in scales if abs(value) >= f), scales[-1])
    return f"{value / factor:.3g} {unit}"


def _interval(metric: str, low: float, high: float) -> str:
    """``[482–520 k/s]``: the unit once when both ends share it."""
    a, b = format_measure(metric, low), format_measure(metric, high)
    a_number, _, a_unit = a.partition(" ")
    return f"[{a_number if a_unit and b.endswith(' ' + a_unit) else a}–{b}]"


def _ratios(cell: Cell, best_word: str, floor: bool) -> str:
    """``×1.00 fastest · ×0.33 floor``, leaving out a ratio that is undefined (against zero bytes)."""
    parts = [(cell.ratio_to_best, best_word)] + ([(cell.ratio_to_floor, "floor")] if floor else [])
    return " · ".join(f"×{r:.2f} {word}" if r < 9.995 else f"×{r:,.0f} {word}" for r, word in parts if r is not None)


def _cell_html(row: Row, cell: Cell, best_word: str, floor: bool) -> htmlpage.Html:
    """A cell's lines: the median (bold for the best), its samples' interval, its ratios, the guest metric."""
    if cell.status != "ok":
        return htmlpage.Html(f'<span class="muted">{htmlpage.esc(cell.status)}</span>')
    value = htmlpage.esc(format_measure(row.metric, cell.value))
    lines = [f"<b>{value}</b>" if cell.ratio_to_best == 1.0 else value]
    if cell.q25 is not None and cell.q75 is not None and cell.samples > 1:
        lines.append(f'<span class="sub">{htmlpage.esc(_interval(row.metric, cell.q25, cell.q75))} '
                     f'of {cell.samples}</span>')
    ratios = _ratios(cell, best_word, floor)
    if ratios:
        lines.append(f'<span class="sub">{htmlpage.esc(ratios)}</span>')
    if row.beside_metric:
        shown = "–" if cell.beside is None else f"{cell.beside:.3f}"
        lines.append(f'<span class="sub">{htmlpage.esc(metric_title(row.beside_metric))} '
                     f'<b>{htmlpage.esc(shown)}</b></span>')
    return htmlpage.Html("".join(lines))


def _best_word(metric: str) -> str:
    kind = naming.metric_kind(metric)
    return "fastest" if kind == "timing" else "smallest" if metric.endswith("_bytes") else "best"


def table_html(table: WorkloadTable) -> str:
    """A workload's heading, its run, and its table (or why it has none)."""
    doc = table.doc
    meta = doc.get("metadata") or {}
    run = " · ".join(x for x in (f"run {when(doc.get('timestamp', ''))}", str(meta.get("commit") or "")[:10],
                                 f"profile {meta['profile']}" if meta.get("profile") else "") if x)
    out = [f'<h3 id="{htmlpage.anchor("side", table.benchmark)}">{htmlpage.esc(table.title)}</h3>',
           f'<p class="runhead">{htmlpage.esc(run)}</p>']
    if doc.get("error"):
        out.append(f'<p class="error">{htmlpage.esc(doc["error"])}</p>')
    if not table.rows:
        out.append("<p>No implementation has results in this run.</p>")
        return "\n".join(out)
    floor = table.floor_measured
    body: List[Any] = []
    for metric in naming.dedupe(row.metric for row in table.rows):
        rows = [row for row in table.rows if row.metric == metric]
        beside = next((r.beside_metric for r in rows if r.beside_metric), None)
        title = f"{metric_title(metric)} ({metric})" + (f" · {metric_title(beside)} beside it" if beside else "")
        body.append(htmlpage.Span(htmlpage.esc(title), "group"))
        for row in rows:
            cells = [_cell_html(row, row.cells.get(name, Cell("n/a")), _best_word(metric), floor)
                     for name in table.implementations]
            body.append([row.label] + cells)
    out.append(htmlpage.table(["parameters"] + table.implementations, body, css_class="sidebyside"))
    return "\n".join(out)


def section(documents: Sequence[Dict[str, Any]]) -> str:
    """The report's side-by-side section of the ``implementations`` documents among `documents`
    ("" when there are none): the plot, a table per workload, how to read them."""
    page = build(documents)
    if not page.tables:
        return ""
    floor = (f"<b>× floor</b>: the same against <b>{FLOOR}</b>, the floor (exact brute force over one matrix "
             "per agent): below 1 beats it." if page.floor_measured else
             f"No {FLOOR} floor was measured in these runs, so there is no ratio to the floor.")
    notes = ["each cell: the median (the best of the row in bold), the interquartile range of its samples "
             "and how many;",
             "<b>× fastest</b>: its cost against the best of the row, 1.00 for the best: a time over the best "
             "time, or the best rate over its rate, so above 1 is always slower (sizes: bigger);", floor,
             "<b>skipped</b>: asv measured nothing (the package is not installed, or its server is down: the "
             "run's log says which);",
             "embedded stores are measured beside a server (Redis) on one machine, approximate indexes beside "
             "exact search: read the recall beside the speed."]
    out = [f'<h2 id="{htmlpage.anchor("side-by-side")}">Implementations side by side</h2>',
           '<p class="muted">The same work on each implementation: one table per workload, a column per '
           'implementation.</p>', f'<ul class="muted">{"".join(f"<li>{n}</li>" for n in notes)}</ul>']
    smoke = [table.title for table in page.tables if is_smoke(table.doc)]
    if smoke:
        out.append(f'<p class="error">Quick profile ({htmlpage.esc(", ".join(smoke))}): one sample per '
                   'cell, a smoke run: the ratios are not a measurement.</p>')
    fig = scaling_figure(page)
    if fig is not None:
        drawn = {name for _, _, series in _plotted(page) for name in series}
        absent = [name for name in page.implementations if name not in drawn]
        caption = "log-log; bars: the interquartile range of the samples" + (
            f"; not drawn (no measurement): {', '.join(absent)}" if absent else "")
        plot = htmlpage.embed_figure(fig, f"implementations: cost against {SIZE_PARAM}", caption, wide=True)
        out.append(f'<div class="plots">{plot}</div>')
    out += [table_html(table) for table in page.tables]
    return "\n".join(out)
