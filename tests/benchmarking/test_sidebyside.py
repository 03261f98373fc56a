"""The implementations' side-by-side page (#14): a table per workload with the implementations as
columns, ratios to the fastest and to the numpy floor computed from the documents' medians, recall
beside the similarity latency, skipped implementations shown, an absent floor said, the scaling plot
written, and the report's section only when implementations results are present.

The documents are built from asv-shaped results by the adapter's own ``build_document`` (what ``cli
run`` writes), so a change of the document format reaches these tests."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any, Callable, Dict, List, Optional, Sequence

import pytest

from memory.benchmarking import cli, report, sidebyside
from memory.benchmarking.asv_adapter import build_document, documented_names
from memory.benchmarking.documents import find_documents, metric_rows, new_document, write_new_document

from .conftest import run_cli
from .test_real_suite import real_env  # noqa: F401 (the fixture: the real suite, results in tmp_path)

IMPLEMENTATIONS = ("agentmemory", "agentmemory-redis", "numpy", "chroma", "faiss")
SIZES = (1000, 10000, 100000)
#: seconds per top-10 query at 1 000 memories, and how it grows with n (exponent)
SEARCH = {"agentmemory": (80e-6, 0.9), "numpy": (60e-6, 1.0), "chroma": (300e-6, 0.2), "faiss": (30e-6, 0.8)}
RECALL = {"agentmemory": 1.0, "numpy": 1.0, "chroma": 0.93, "faiss": 1.0}
SKIPPED = "agentmemory-redis"  # Redis down: asv records NaN for its combinations

Value = Callable[[str, Dict[str, Any]], Optional[float]]  # (method, params) → value (None: failed, NaN: skipped)


def asv_document(class_name: str, methods: Dict[str, tuple], grid: Dict[str, Sequence[Any]], value: Value,
                 samples: bool = True, **attrs: Any) -> Dict[str, Any]:
    """The document ``cli run`` writes for one asv class of the implementations module: `methods`
    {name: (asv type, unit)}, its grid, each combination's value (samples around it, 6 of them, when
    `samples`), through the adapter's build_document."""
    infos, decoded = [], {}
    for line, (method, (kind, unit)) in enumerate(methods.items()):
        info = {"name": f"{sidebyside.CATEGORY}.{class_name}.{method}", "type": kind, "unit": unit,
                "param_names": list(grid), "lineno": 10 + line, **attrs}
        combos = list(itertools.product(*grid.values()))
        results = [value(method, dict(zip(grid, combo))) for combo in combos]
        entry: Dict[str, Any] = {"result": results, "params": [[repr(v) for v in values] for values in grid.values()]}
        if samples:
            entry["samples"] = [None if r is None or math.isnan(r) else [r * f for f in (0.9, 0.95, 1.0, 1.0, 1.05, 1.2)]
                                for r in results]
        infos.append(info)
        decoded[info["name"]] = entry
    category, benchmark = documented_names(infos[0])
    return build_document(category, benchmark, infos, {"decoded": decoded, "params": {}, "commit_hash": "c0ffee" * 6})


def search_seconds(params: Dict[str, Any]) -> float:
    base, exponent = SEARCH.get(params["implementation"], (math.nan, 0.0))
    return base * (params["n_memories"] / 1000) ** exponent


def run_documents(implementations: Sequence[str] = IMPLEMENTATIONS) -> List[Dict[str, Any]]:
    """The documents of one run of the contract's classes over `implementations` (Redis skipped)."""
    sized = {"implementation": list(implementations), "n_memories": list(SIZES)}
    flat = {"implementation": list(implementations)}
    return [
        asv_document("StoreBatch", {"time_store_batch": ("time", "seconds")}, sized,
                     lambda m, p: math.nan if p["implementation"] == SKIPPED else p["n_memories"] * 2e-6
                     * (1 + list(implementations).index(p["implementation"])), items_per_call="n_memories"),
        asv_document("ReadById", {"time_read_by_id": ("time", "seconds")}, flat,
                     lambda m, p: math.nan if p["implementation"] == SKIPPED else 5e-6 + len(p["implementation"]) * 1e-6),
        asv_document("SimilaritySearch", {"time_top10": ("time", "seconds")}, sized, lambda m, p: search_seconds(p)),
        asv_document("Quality", {"track_recall_at_10": ("track", "")}, sized,
                     lambda m, p: RECALL.get(p["implementation"], math.nan), samples=False),
        asv_document("Footprint", {"peakmem_store": ("peakmemory", "bytes"), "track_disk_bytes": ("track", "bytes")},
                     flat, lambda m, p: math.nan if p["implementation"] == SKIPPED
                     else (0.0 if p["implementation"] == "numpy" and m == "track_disk_bytes" else 1e6 * len(p["implementation"])),
                     samples=False),
    ]


def table_of(page: sidebyside.SideBySide, benchmark: str) -> sidebyside.WorkloadTable:
    return next(t for t in page.tables if t.benchmark == benchmark)


def test_ratios_are_the_medians_against_the_fastest_and_the_floor():
    docs = run_documents()
    table = table_of(sidebyside.build(docs), "similarity_search")
    assert table.implementations == list(IMPLEMENTATIONS)  # the grid's order, skipped ones included
    assert [row.label for row in table.rows] == ["n_memories = 1,000", "n_memories = 10,000", "n_memories = 100,000"]
    medians = {(path, metric): value for path, metric, value in metric_rows(docs[2])}
    for row, n in zip(table.rows, SIZES):
        measured = {name: search_seconds({"implementation": name, "n_memories": n}) for name in SEARCH}
        fastest = min(measured, key=measured.get)
        assert row.best == fastest and row.cells[fastest].ratio_to_best == 1.0
        for name, seconds in measured.items():
            cell = row.cells[name]
            assert cell.value == medians[(f"implementation_{name}/n_memories_{n}", row.metric)] == pytest.approx(seconds)
            assert cell.ratio_to_best == pytest.approx(seconds / measured[fastest])
            assert cell.ratio_to_floor == pytest.approx(seconds / measured["numpy"])
            # the quartiles of the 6 samples (linear interpolation): 0.9625 and 1.0375 of the median
            assert (cell.q25, cell.q75, cell.samples) == pytest.approx((0.9625 * seconds, 1.0375 * seconds, 6))
    # chroma grows slowest: the fastest at 100 000 memories is not the fastest at 1 000
    assert table.rows[0].best == "faiss" and table.rows[-1].best == "chroma"


def test_a_throughput_is_a_cost_too_the_highest_rate_is_one():
    table = table_of(sidebyside.build(run_documents()), "store_batch")
    assert {row.metric for row in table.rows} == {"throughput_ops_per_second"}  # a batch: its rate, not its time
    row = table.rows[0]
    rates = {name: cell.value for name, cell in row.cells.items() if cell.status == "ok"}
    assert row.best == max(rates, key=rates.get) == "agentmemory"
    for name, rate in rates.items():
        assert row.cells[name].ratio_to_best == pytest.approx(rates["agentmemory"] / rate)  # above 1: slower
        assert row.cells[name].ratio_to_floor == pytest.approx(rates["numpy"] / rate)


def test_recall_stands_beside_the_similarity_latency_of_the_same_size():
    page = sidebyside.build(run_documents())
    assert "quality" not in [t.benchmark for t in page.tables]  # merged, not repeated
    table = table_of(page, "similarity_search")
    for row in table.rows:
        assert row.beside_metric == "recall_at_10"
        assert {name: row.cells[name].beside for name in RECALL} == RECALL
    html = sidebyside.table_html(table)
    assert "recall@10 <b>0.930</b>" in html


def test_skipped_and_failed_implementations_are_cells_not_errors():
    docs = run_documents()
    docs[1] = asv_document("ReadById", {"time_read_by_id": ("time", "seconds")},
                           {"implementation": list(IMPLEMENTATIONS)},
                           lambda m, p: {SKIPPED: math.nan, "chroma": None}.get(p["implementation"], 1e-5))
    page = sidebyside.build(docs)
    rows = [row for table in page.tables for row in table.rows]
    assert len(rows) == 3 + 1 + 3 + 2  # store and search at 3 sizes, read, footprint's 2 metrics
    assert all(row.cells[SKIPPED].status == "skipped" for row in rows)
    (read,) = table_of(page, "read_by_id").rows
    assert read.cells["chroma"].status == "failed" and read.cells["numpy"].ratio_to_best == 1.0
    assert read.cells[SKIPPED].value is None and read.cells[SKIPPED].ratio_to_best is None
    html = sidebyside.section(docs)
    assert html.count('<span class="muted">skipped</span>') == len(rows)
    assert html.count('<span class="muted">failed</span>') == 1


def test_an_implementation_alone_in_its_run_is_still_a_column():
    """When every other implementation was skipped, the adapter leaves the parameter out of the path
    (metadata.fixed_params): the page reads it from there."""
    doc = asv_document("ReadById", {"time_read_by_id": ("time", "seconds")}, {"implementation": ["numpy", "chroma"]},
                       lambda m, p: 2e-5 if p["implementation"] == "numpy" else math.nan)
    assert doc["metadata"]["fixed_params"] == {"implementation": "numpy"}
    (row,) = table_of(sidebyside.build([doc]), "read_by_id").rows
    assert row.cells["numpy"].value == pytest.approx(2e-5) and row.cells["numpy"].ratio_to_best == 1.0
    assert row.cells["chroma"].status == "skipped"


def test_without_the_floor_there_is_no_floor_ratio_and_the_page_says_so():
    docs = run_documents(("agentmemory", "chroma", "faiss"))
    page = sidebyside.build(docs)
    assert not page.floor_measured
    for table in page.tables:
        for row in table.rows:
            assert all(cell.ratio_to_floor is None for cell in row.cells.values())
    html = sidebyside.section(docs)
    assert "No numpy floor was measured in these runs" in html and " floor<" not in html and "× floor" not in html
    assert " floor</span>" in sidebyside.section(run_documents())


def test_a_zero_size_is_the_smallest_and_others_have_no_ratio_to_it():
    footprint = table_of(sidebyside.build(run_documents()), "footprint")
    assert [row.metric for row in footprint.rows] == ["peak_memory_bytes", "disk_bytes"]
    disk = footprint.rows[1]
    assert disk.best == "numpy" and disk.cells["numpy"].value == 0.0
    assert disk.cells["chroma"].ratio_to_best is None  # n bytes against none: no finite ratio
    assert "smallest" in sidebyside.table_html(footprint)


def test_the_scaling_plot_is_written(tmp_path):
    page = sidebyside.build(run_documents())
    path = sidebyside.write_scaling_plot(page, str(tmp_path / "plots" / "scaling.png"))
    data = (tmp_path / "plots" / "scaling.png").read_bytes()
    assert path and data.startswith(b"\x89PNG") and len(data) > 10_000
    fig = sidebyside.scaling_figure(page)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Top-10 similarity search: total time", "Batch store: throughput per second"]
    lines = {text.get_text() for text in fig.legends[0].get_texts()}
    assert lines == set(SEARCH)  # one line per measured implementation (Redis skipped: none)
    assert all(ax.get_xscale() == ax.get_yscale() == "log" for ax in fig.axes)
    flat = [asv_document("ReadById", {"time_read_by_id": ("time", "seconds")}, {"implementation": ["numpy"]},
                         lambda m, p: 1e-5)]
    assert sidebyside.write_scaling_plot(sidebyside.build(flat), str(tmp_path / "none.png")) is None
    assert not (tmp_path / "none.png").exists()


def _report(root, **selection) -> str:
    return open(report.write_report(str(root), output_dir=str(root / "out"), **selection), encoding="utf-8").read()


def test_the_report_has_the_section_only_with_implementations_results(tmp_path):
    write_new_document(tmp_path, new_document("write_throughput", "storage", {"batch_100": {"total_time_seconds": 0.1}},
                                              stamp="20250301_090000"))
    assert "side-by-side" not in _report(tmp_path)
    for doc in run_documents():
        write_new_document(tmp_path, doc)
    page = _report(tmp_path)
    assert page.index('id="summary"') < page.index('id="side-by-side"') < page.index('id="bench-storage')
    assert page.count('class="sidebyside"') == 4  # store, read, similarity (with recall), footprint
    assert 'id="side-similarity_search"' in page and "data:image/png;base64," in page
    assert "side-by-side" not in _report(tmp_path, category="storage")
    out = tmp_path / "cli"
    assert cli.main(["results", "report", "--category", sidebyside.CATEGORY, "--results-dir", str(tmp_path),
                     "--output-dir", str(out)]) == 0  # the page alone, from the command line
    (only,) = out.glob("report_implementations_*.html")
    text = only.read_text(encoding="utf-8")
    assert 'id="side-by-side"' in text and "bench-storage" not in text


def test_the_latest_run_of_each_benchmark_is_the_one_shown():
    older = run_documents()[2]
    newer = asv_document("SimilaritySearch", {"time_top10": ("time", "seconds")},
                         {"implementation": ["numpy", "faiss"], "n_memories": [1000]}, lambda m, p: 1e-3)
    older["timestamp"], newer["timestamp"] = "20250301_090000", "20250302_090000"
    (row,) = table_of(sidebyside.build([newer, older]), "similarity_search").rows
    assert set(row.cells) == {"numpy", "faiss"} and row.cells["faiss"].value == pytest.approx(1e-3)


# ---- end to end: the real suite's implementations category, then the report ---------------------

TINY = {"names": ["numpy", "agentmemory", "agentmemory-redis"], "memory_counts": [200, 1000],
        "store_batch_sizes": [100, 1000], "read_memories": 500, "queries_per_call": 3, "recall_queries": 20}


@pytest.mark.asv
@pytest.mark.slow
def test_a_real_run_of_the_category_gives_the_page(tmp_path, real_env):
    """``cli run --category implementations`` on a tiny grid (numpy, AgentMemory embedded, and AgentMemory
    on a Redis that does not answer: skipped), then ``cli results report``: the page and its tables."""
    env = dict(real_env, AGENTMEMORY_BENCH_REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    out, pages = tmp_path / "out", tmp_path / "pages"
    proc = run_cli(["python", "-m", "memory.benchmarking.cli", "run", "--category", sidebyside.CATEGORY,
                    "--params", json.dumps(TINY), "--output-dir", str(out)], tmp_path, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_cli(["python", "-m", "memory.benchmarking.cli", "results", "report", "--category", sidebyside.CATEGORY,
                    "--results-dir", str(out), "--output-dir", str(pages)], tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    (html,) = pages.glob("report_implementations_*.html")
    text = html.read_text(encoding="utf-8")
    assert 'id="side-by-side"' in text and text.count('class="sidebyside"') == 6 and "data:image/png;base64," in text
    page = sidebyside.build([doc for _, doc in find_documents(out, sidebyside.CATEGORY)])
    assert [t.benchmark for t in page.tables] == ["store_batch", "read_by_id", "similarity_search", "step_range",
                                                 "attribute_filter", "footprint"]  # quality beside the search
    for table in page.tables:
        assert sorted(table.implementations) == sorted(TINY["names"])  # in the registry's order
        for row in table.rows:
            assert row.cells["agentmemory-redis"].status == "skipped"
            assert row.cells["numpy"].ratio_to_floor == 1.0 and row.best in ("numpy", "agentmemory")
            other = "agentmemory" if row.best == "numpy" else "numpy"
            ratio = row.cells[other].ratio_to_best
            assert ratio >= 1.0 if row.metric != "disk_bytes" else ratio is None or ratio >= 1.0  # vs 0 bytes: none
    search = table_of(page, "similarity_search")
    assert [(r.metric, r.label) for r in search.rows] == [("latency_seconds", "n_memories = 200"),
                                                          ("latency_seconds", "n_memories = 1,000")]
    assert all(r.cells[n].beside == 1.0 for r in search.rows for n in ("numpy", "agentmemory"))  # both exact
    assert [r.metric for r in table_of(page, "store_batch").rows] == ["throughput_ops_per_second"] * 2
