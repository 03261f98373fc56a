"""Metrics the suite declares not exactly reproducible for some parameters (the implementations
category's Chroma recall and bytes, LanceDB's bytes): the adapter records them in
``metadata.metric_kind_overrides`` and ``compare`` judges them on the threshold there, and only there.

The documents are the real adapter's, from the real suite's discovered benchmark infos and planted
asv results (a value per parameter combination, as asv records them)."""

from __future__ import annotations

import itertools
import math

import pytest

from memory.benchmarking.asv_adapter import build_document, discover_suite, write_document
from memory.benchmarking.compare import compare_dirs, compare_documents
from memory.benchmarking.naming import parse_param_value
from memory.benchmarking.peers import NAMES

from .conftest import REPO

#: Planted values: every implementation exact at every count, 11 000 memories' bytes.
RECALL, DISK_BYTES = 1.0, 19_700_000.0


@pytest.fixture(scope="module")
def infos():
    """The discovered infos of implementations.Quality and .Footprint (quick profile's grid)."""
    found = discover_suite(REPO / "benchmarks", env={"AGENTMEMORY_BENCH_PROFILE": "quick"})
    return {cls: [i for i in found if i["name"].startswith(f"implementations.{cls}.")]
            for cls in ("Quality", "Footprint")}


def _entry(info, value_of, skipped=()):
    """asv's decoded result of one benchmark: `value_of(implementation, *other params)` per combination
    (NaN, as asv records a skip, for an implementation in `skipped`)."""
    grid = info["params"]
    values = []
    for combo in itertools.product(*grid):
        params = [parse_param_value(v) for v in combo]
        values.append(math.nan if params[0] in skipped else float(value_of(*params)))
    return {"result": values, "params": grid}


def _document(infos, cls, benchmark, values, skipped=()):
    """The adapter's document of `cls` whose track_* values are `values` ({method: value_of}); a
    peakmem_* records 100 MB everywhere."""
    decoded = {}
    for info in infos[cls]:
        method = info["name"].rsplit(".", 1)[1]
        decoded[info["name"]] = _entry(info, values.get(method, lambda *_: 1e8), skipped)
    return build_document("implementations", benchmark, infos[cls], {"decoded": decoded, "params": {}})


def _recall(chroma=0.972, numpy=RECALL):
    return {"track_recall_at_10": lambda name, n: {"chroma": chroma, "numpy": numpy}.get(name, RECALL)}


def _disk_bytes(lancedb=DISK_BYTES, chroma=91_800_000.0):
    return {"track_disk_bytes": lambda name: {"lancedb": lancedb, "chroma": chroma}.get(name, DISK_BYTES)}


def _run(folder, infos, recall, disk_bytes):
    write_document(_document(infos, "Quality", "quality", recall), folder)
    write_document(_document(infos, "Footprint", "footprint", disk_bytes), folder)


def _by_path(comparison, benchmark, metric):
    return {c.canonical: c for c in comparison.changes if c.benchmark == benchmark and c.metric == metric}


def test_the_discovered_infos_declare_what_is_not_reproducible(infos):
    (recall,) = [i for i in infos["Quality"] if i["name"].endswith(".track_recall_at_10")]
    assert recall["not_reproducible"] == {"implementation": ["chroma"]}
    declared = {i["name"].rsplit(".", 1)[1]: i.get("not_reproducible") for i in infos["Footprint"]}
    assert declared == {"peakmem_store": None, "track_disk_bytes": {"implementation": ["chroma", "lancedb"]}}


def test_the_exported_document_carries_the_overrides_of_those_paths_only(infos):
    quality = _document(infos, "Quality", "quality", _recall())
    counts = infos["Quality"][0]["params"][1]
    assert quality["metadata"]["metric_kinds"] == {"recall_at_10": "deterministic"}
    assert quality["metadata"]["metric_kind_overrides"] == {
        f"implementation_chroma/n_memories_{n}": {"recall_at_10": {"kind": "resource",
                                                                   "reason": "not reproducible for chroma"}}
        for n in counts}
    footprint = _document(infos, "Footprint", "footprint", _disk_bytes())
    assert footprint["metadata"]["metric_kinds"] == {"peak_memory_bytes": "resource", "disk_bytes": "deterministic"}
    assert footprint["metadata"]["metric_kind_overrides"] == {
        f"implementation_{name}": {"disk_bytes": {"kind": "resource", "reason": f"not reproducible for {name}"}}
        for name in ("chroma", "lancedb")}
    # a skipped implementation (its package missing) has no value, hence no override
    without_chroma = _document(infos, "Footprint", "footprint", _disk_bytes(), skipped=("chroma",))
    assert set(without_chroma["metadata"]["metric_kind_overrides"]) == {"implementation_lancedb"}


def test_two_runs_of_the_same_commit_judge_chroma_and_lancedb_on_the_threshold(infos, tmp_path):
    """Chroma's recall 0.972 -> 0.952 and LanceDB's bytes +0.5 % (build to build) are no regression;
    numpy's recall 1.0 -> 0.99 still is (exact), and so is Chroma's recall dropping by 30 % (threshold)."""
    _run(tmp_path / "base", infos, _recall(chroma=0.972), _disk_bytes())
    _run(tmp_path / "same", infos, _recall(chroma=0.952), _disk_bytes(lancedb=DISK_BYTES * 1.005,
                                                                       chroma=91_720_000.0))
    same = compare_dirs(str(tmp_path / "same"), str(tmp_path / "base"))
    assert same.exit_code == 0 and not same.regressions and not same.improvements
    recall, disk = _by_path(same, "quality", "recall_at_10"), _by_path(same, "footprint", "disk_bytes")
    counts = infos["Quality"][0]["params"][1]
    for n in counts:
        chroma = recall[f"implementation_chroma/n_memories_{parse_param_value(n)}"]
        assert chroma.status == "unchanged" and chroma.kind == "resource", chroma
        assert chroma.reason == "not reproducible for chroma: judged on the threshold"
    lancedb = disk["implementation_lancedb"]
    assert lancedb.status == "unchanged" and lancedb.change == pytest.approx(0.005)
    assert lancedb.reason == "not reproducible for lancedb: judged on the threshold"
    assert disk["implementation_numpy"].kind == "deterministic" and disk["implementation_numpy"].reason == "exact"

    _run(tmp_path / "worse", infos, _recall(chroma=0.972 * 0.7, numpy=0.99), _disk_bytes())
    worse = compare_dirs(str(tmp_path / "worse"), str(tmp_path / "base"))
    assert worse.exit_code == 2
    regressed = {(c.benchmark, c.canonical) for c in worse.regressions}
    assert regressed == {("quality", f"implementation_{name}/n_memories_{parse_param_value(n)}")
                         for name in ("numpy", "chroma") for n in counts}
    first = parse_param_value(counts[0])
    numpy = _by_path(worse, "quality", "recall_at_10")[f"implementation_numpy/n_memories_{first}"]
    assert numpy.kind == "deterministic" and numpy.reason == "deterministic metric changed"
    chroma = _by_path(worse, "quality", "recall_at_10")[f"implementation_chroma/n_memories_{first}"]
    assert chroma.change == pytest.approx(-0.3) and chroma.reason.endswith("judged on the threshold")
    assert {"implementation_lancedb", "implementation_chroma"} <= set(_by_path(worse, "footprint", "disk_bytes"))


def test_a_run_of_chroma_alone_matches_a_full_run_and_an_older_baseline(infos):
    """A run of one implementation (``implementation`` fixed, not nested) is matched to a full run by its
    canonical path, overrides included; a baseline written before overrides existed is judged by the
    current document's."""
    full = _document(infos, "Footprint", "footprint", _disk_bytes())
    alone = _document(infos, "Footprint", "footprint", _disk_bytes(chroma=91_720_000.0),
                      skipped=tuple(n for n in NAMES if n != "chroma"))
    assert alone["metadata"]["fixed_params"] == {"implementation": "chroma"}
    assert alone["metadata"]["metric_kind_overrides"] == {"": {"disk_bytes": {
        "kind": "resource", "reason": "not reproducible for chroma"}}}
    for current, baseline in ((alone, full), (full, alone)):
        (change,) = [c for c in compare_documents(current, baseline, threshold=0.1) if c.metric == "disk_bytes"]
        assert change.canonical == "implementation_chroma" and change.status == "unchanged", change
    older = dict(full, metadata={k: v for k, v in full["metadata"].items() if k != "metric_kind_overrides"})
    (change,) = [c for c in compare_documents(alone, older, threshold=0.1) if c.metric == "disk_bytes"]
    assert change.status == "unchanged" and change.kind == "resource"
    # without an override anywhere, the same change is a deterministic regression
    plain = dict(alone, metadata={k: v for k, v in alone["metadata"].items() if k != "metric_kind_overrides"})
    worse = _document(infos, "Footprint", "footprint", _disk_bytes(chroma=91_900_000.0),
                      skipped=tuple(n for n in NAMES if n != "chroma"))
    worse["metadata"].pop("metric_kind_overrides")
    (change,) = [c for c in compare_documents(worse, plain, threshold=0.1) if c.metric == "disk_bytes"]
    assert change.status == "regression" and change.kind == "deterministic"
