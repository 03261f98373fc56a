"""The asv suite under real asv: check, per-category quick runs on a tiny grid, quality sanity,
no leftovers, a real virtualenv build of HEAD, and the published site rendered in Chromium.

Everything runs in a throw-away copy of the project (its own git repository, results and html
under it), with a private HOME (asv's machine file), TMPDIR and Redis namespace log, so the repo's
.asv stays clean and the leftover checks see this run's files and keys only (other processes on
the machine use the system temp dir and the same Redis server).
"""

from __future__ import annotations

import http.server
import itertools
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import pytest

from asv_helpers import (MACHINE, REPO, asv_env, catalog, expected_combos, fetch_vendor, finite, git,
                         load_results, localize_site, machine, make_project, redis_backend_usable, redis_keys,
                         result_files, run_asv, temp_listing)

pytestmark = [pytest.mark.asv]

CATEGORIES = ["storage", "compression", "memory_transition", "retrieval", "scalability", "integration"]
#: Where the project's benchmark processes log their Redis namespaces (under the project's root).
NAMESPACE_LOG = "namespaces.log"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("asvsuite")
    proj = make_project(root)
    env = asv_env(root, AGENTMEMORY_BENCH_NAMESPACE_LOG=str(root / NAMESPACE_LOG))
    machine(proj, env)
    return root, proj, env


@pytest.fixture(scope="module")
def suite_catalog(project):
    _, _, env = project
    return catalog(env)


@pytest.fixture(scope="module")
def redis_ok():
    return redis_backend_usable()


@pytest.fixture(scope="module")
def postgres_ok():
    """Whether the suite's PostgreSQL probe succeeds here (the same probe the benchmarks run)."""
    code = ("import sys; sys.path.insert(0, %r); from benchmarks.backends import postgres_backend_status;"
            "print(int(postgres_backend_status()[0]))" % str(REPO))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return proc.returncode == 0 and proc.stdout.strip().endswith("1")


def test_asv_check(project):
    _, proj, env = project
    proc = run_asv(proj, env, "check", "--python=same")
    assert "No problems found" in proc.stdout + proc.stderr


def test_catalog_names_every_benchmark(suite_catalog):
    from memory.benchmarking.config import OPT_IN_CATEGORIES  # tests/test_implementations_run.py runs those

    assert {name.split(".", 1)[0] for name in suite_catalog} == set(CATEGORIES) | set(OPT_IN_CATEGORIES)
    for name, entry in suite_catalog.items():
        kind = name.rsplit(".", 1)[1].split("_", 1)[0]
        assert entry["type"] == kind
        assert entry["seed_metrics"], f"{name} names no seed metric"
        if kind == "track":
            assert entry["unit"] and entry["unit"] != "unit", f"{name} has no unit"


def test_catalog_marks_the_benchmarks_that_run_threads_or_processes_parallel(suite_catalog):
    """The confirmation pass pins single-threaded benchmarks to one core and leaves these on every
    core: exactly the classes whose timed body starts thread pools or worker processes."""
    parallel = {name.rsplit(".", 1)[0] for name, entry in suite_catalog.items() if entry["parallel"]}
    assert parallel == {"scalability.AgentCountScaling", "scalability.SharedDeploymentScaling",
                        "integration.ConcurrentClients"}


#: Every timing-like track: sampled (several samples per process, judged like a timing).
SAMPLED_TRACKS = {
    "storage.ReadLatencyP95.track_p95_latency_ms",
    "retrieval.SimilaritySearchP95.track_p95_latency_ms",
    "scalability.AgentCountScaling.track_scaling_efficiency",
    "scalability.ResourceUse.track_cpu_seconds_per_1000_ops",
    "integration.ApiOverheadPercent.track_overhead_percent",
    "integration.HookOverheadPercent.track_overhead_percent",
    "integration.CartPoleOverheadPercent.track_overhead_percent",
    "integration.MesaOverheadPercent.track_overhead_percent",
}


def _suite_method(name):
    """(class, method) of the asv benchmark `name` (``module.Class.method``), imported in this process."""
    import importlib

    module, cls_name, attr = name.split(".")
    cls = getattr(importlib.import_module(f"benchmarks.{module}"), cls_name)
    return cls, getattr(cls, attr)


def test_catalog_declares_metric_kinds(suite_catalog):
    """time_* are timing and peakmem_* resource; every track_ declares a kind: timing exactly for the
    sampled tracks (made by common.sampled), deterministic for the rest and for every CachedBenchmark."""
    from benchmarks.conventions import sampled
    from benchmarks.lifecycle import CachedBenchmark

    sampled_code = sampled(lambda self: 0.0).__code__  # the wrapper every sampled track shares
    tracks = {name: entry for name, entry in suite_catalog.items() if entry["type"] == "track"}
    assert SAMPLED_TRACKS <= set(tracks)
    for name, entry in suite_catalog.items():
        if entry["type"] != "track":
            assert entry["metric_kind"] == {"time": "timing", "peakmem": "resource"}[entry["type"]], name
            continue
        cls, method = _suite_method(name)
        is_sampled = getattr(method, "__code__", None) is sampled_code
        assert entry["metric_kind"] == ("timing" if name in SAMPLED_TRACKS else "deterministic"), name
        assert is_sampled == (name in SAMPLED_TRACKS), f"{name}: sampled={is_sampled}"
        if issubclass(cls, CachedBenchmark):
            assert entry["metric_kind"] == "deterministic", name


def test_sampled_decorator_contract():
    """sampled: samples_per_track() calls of the body, asv's timing-result dict, the method's name, doc
    and attributes kept (also those set after decoration), and a non-finite sample raises."""
    from benchmarks.conventions import metrics, sampled, samples_per_track

    class Probe:
        def __init__(self, values):
            self.values = iter(values)

        @metrics("p95_latency_ms")
        @sampled
        def track_probe_ms(self, size):
            """One sample of a probe."""
            return next(self.values) * size

        track_probe_ms.unit = "ms"

    n = samples_per_track()
    out = Probe([float(i + 1) for i in range(n)]).track_probe_ms(2)
    assert out == {"samples": [2.0 * (i + 1) for i in range(n)], "number": 1}
    method = Probe.track_probe_ms
    assert (method.__name__, method.__doc__) == ("track_probe_ms", "One sample of a probe.")
    assert (method.unit, method.seed_metrics, method.metric_kind) == ("ms", ("p95_latency_ms",), "timing")
    with pytest.raises(ValueError, match="non-finite"):
        Probe([math.nan] * n).track_probe_ms(1)
    with pytest.raises(ValueError):
        metrics("x", kind="deterministic")(sampled(lambda self: 0.0))


def test_the_confirmation_pass_sets_how_many_samples_a_track_call_takes(monkeypatch):
    """The paired pass's processes take TRACK_BLOCK_SAMPLES per track call (one call = one block);
    the suite spells the variable out (older builds lack the driver's constant), so check they agree."""
    from benchmarks import conventions
    from memory.benchmarking import paired
    from memory.benchmarking.config import TRACK_SAMPLES_ENV

    assert conventions.TRACK_SAMPLES_ENV == TRACK_SAMPLES_ENV
    monkeypatch.delenv(TRACK_SAMPLES_ENV, raising=False)
    assert conventions.samples_per_track() == conventions.TIMING["track_samples"]
    monkeypatch.setenv(TRACK_SAMPLES_ENV, str(paired.TRACK_BLOCK_SAMPLES))
    assert conventions.samples_per_track() == paired.TRACK_BLOCK_SAMPLES < conventions.TIMING["track_samples"]
    monkeypatch.setenv(TRACK_SAMPLES_ENV, "many")  # not a count: the profile's
    assert conventions.samples_per_track() == conventions.TIMING["track_samples"]


@pytest.mark.slow
def test_sampled_track_records_samples(tmp_path):
    """A real asv run with two rounds stores a sampled track like a timing: its samples (at least one
    per round) in the result file, the stored value their median, with quartiles and a CI."""
    from asv.results import Results

    proj = make_project(tmp_path)
    env = asv_env(tmp_path)
    machine(proj, env)
    name = "integration.ApiOverheadPercent.track_overhead_percent"
    run_asv(proj, env, "run", "--python=same", "--record-samples", "-a", "rounds=2", "--set-commit-hash",
            "HEAD", "--show-stderr", "--bench", r"^integration\.ApiOverheadPercent\.", timeout=600)
    (path,) = result_files(proj)
    res = Results.load(str(path), MACHINE)
    params = res.get_result_params(name)
    values = res.get_result_value(name, params)
    samples = res.get_result_samples(name, params)
    stats = res.get_result_stats(name, params)
    assert len(values) == len(samples) == len(params[0]) == 3, (values, samples)
    for value, combo_samples, combo_stats in zip(values, samples, stats):
        assert combo_samples is not None and len(combo_samples) >= 2, combo_samples
        assert all(finite(x) for x in combo_samples), combo_samples
        assert value == pytest.approx(statistics.median(combo_samples), rel=1e-12, abs=1e-12)
        assert combo_stats["repeat"] == len(combo_samples)
        assert combo_stats["q_25"] <= value <= combo_stats["q_75"]


# Measures every deterministic metric of the suite in this process and prints them as JSON: each
# CachedBenchmark's setup_cache values, and each deterministic track_ of a SystemBenchmark.
_DETERMINISTIC_VALUES = r"""
import importlib, inspect, itertools, json, sys
sys.path.insert(0, sys.argv[1])
from benchmarks.catalog import MODULES
from benchmarks.conventions import metric_kind_of
from benchmarks.lifecycle import Benchmark, CachedBenchmark
from memory.benchmarking.config import OPT_IN_CATEGORIES
out = {}
for module_name in MODULES:
    if module_name in OPT_IN_CATEGORIES:  # their determinism: tests/test_implementations_run.py
        continue
    module = importlib.import_module(f"benchmarks.{module_name}")
    for cls_name, cls in inspect.getmembers(module, inspect.isclass):
        if cls.__module__ != module.__name__ or not issubclass(cls, Benchmark):
            continue
        if issubclass(cls, CachedBenchmark):
            cache = cls().compute_cache()
            out[f"{module_name}.{cls_name}"] = {repr(k): v for k, v in cache.items()}
            continue
        for attr in sorted(dir(cls)):
            if not attr.startswith("track_") or metric_kind_of(cls, attr) != "deterministic":
                continue
            params = getattr(cls, "params", None) or []
            params = params if not params or isinstance(params[0], list) else [params]
            for combo in itertools.product(*params):
                if combo in getattr(getattr(cls, attr), "skip_params", []):
                    continue
                bench = cls()
                try:
                    bench.setup(*combo)
                except NotImplementedError:  # its backend cannot be used here (no PostgreSQL): asv skips it too
                    continue
                try:
                    out[f"{module_name}.{cls_name}.{attr}{combo!r}"] = getattr(bench, attr)(*combo)
                finally:
                    bench.teardown(*combo)
print(json.dumps(out, sort_keys=True))
"""


def test_deterministic_metrics_repeat_across_processes(tmp_path):
    """Every deterministic metric (quick profile) is exactly the same in two processes with different
    PYTHONHASHSEED: no clock, hash order, thread timing or unseeded randomness reaches them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTMEMORY_BENCH_")}
    env.update(AGENTMEMORY_BENCH_PROFILE="quick", TMPDIR=str(tmp_path))
    runs = []
    for seed in ("1", "2"):
        proc = subprocess.run([sys.executable, "-c", _DETERMINISTIC_VALUES, str(REPO)], capture_output=True,
                              text=True, timeout=120, env=dict(env, PYTHONHASHSEED=seed), check=True)
        runs.append(proc.stdout)
    first = json.loads(runs[0])
    measures = {name.split("(")[0] for name in first}  # CachedBenchmark classes, deterministic tracks
    assert {"compression.EmbeddingQuality", "retrieval.SearchRecall", "memory_transition.ImportanceRetention",
            "memory_transition.TransitionOverhead.track_moved_fraction"} <= measures, sorted(measures)
    measured = [v for entry in first.values()
                for v in (entry.values() if isinstance(entry, dict) else [entry])]
    assert measured and not any(isinstance(v, str) for v in measured), "a deterministic metric was skipped"
    assert runs[0] == runs[1], _first_difference(first, json.loads(runs[1]))


def _first_difference(a, b):
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            return f"{key}: {a.get(key)!r} != {b.get(key)!r}"
    return "outputs differ only in formatting"


def _skippable(combo, redis_ok, entry=None, postgres_ok=True):
    """Combinations allowed to be skipped (NaN): the Redis backend when it is unavailable, the PostgreSQL
    LTM backend when no server answers, LTM under a non-default backend (LTM is SQLite on every backend;
    storage measures it once, under memory), and those the benchmark declares in asv's ``skip_params``
    (the catalogue's ``skip_params``)."""
    on_redis = any("redis" in value for value in combo)
    on_postgres = "'postgres'" in combo
    declared = {tuple(repr(v) for v in skip) for skip in (entry or {}).get("skip_params", [])}
    return ((on_redis and not redis_ok) or (on_postgres and not postgres_ok)
            or (on_redis and any("'ltm'" in value for value in combo)) or tuple(combo) in declared)


def _skipped(cls, benchmark, grid):
    """The combinations of `grid` (lists of values) that cls's skip() declares for `benchmark`."""
    bench = cls()
    return [combo for combo in itertools.product(*grid) if bench.skip(benchmark, *combo)]


@pytest.mark.parametrize("profile", ["quick", "default", "full"])
def test_store_loops_above_the_cap_run_in_the_full_profile_only(monkeypatch, profile):
    """Default and quick profiles: no store loop above 1 000 states, on any backend or complexity (the
    batch grid runs whole); the full profile skips nothing."""
    from benchmarks import storage

    monkeypatch.setattr(storage, "PROFILE", profile)
    grid = [[10, 100, 1000, 10000], [1, 5, 10], ["memory", "redis"]]
    assert storage.LOOP_MAX == 1000
    expected = [] if profile == "full" else [(10000, c, b) for c in (1, 5, 10) for b in ("memory", "redis")]
    assert _skipped(storage.WriteThroughput, "time_store_loop", grid) == expected
    assert _skipped(storage.WriteThroughput, "time_store_batch", grid) == []


@pytest.mark.parametrize("profile", ["quick", "default", "full"])
def test_tier_store_loops_stop_at_the_cap_and_ltm_runs_once(monkeypatch, profile):
    """TierWriteThroughput: loops above 1 000 states skipped on every backend (not in the full profile),
    the batches kept; LTM (SQLite everywhere) measured under backend="memory" only."""
    from benchmarks import storage

    monkeypatch.setattr(storage, "PROFILE", profile)
    grid = [[10, 1000, 10000], ["im", "ltm"], ["memory", "redis"]]
    ltm_on_redis = [(b, "ltm", "redis") for b in (10, 1000, 10000)]
    loops = [] if profile == "full" else [(10000, "im", "memory"), (10000, "im", "redis"), (10000, "ltm", "memory")]
    assert sorted(_skipped(storage.TierWriteThroughput, "time_store_loop", grid)) == sorted(loops + ltm_on_redis)
    assert _skipped(storage.TierWriteThroughput, "time_store_batch", grid) == ltm_on_redis
    assert _skipped(storage.ReadLatency, "time_read", [[1], ["stm", "ltm"], ["memory", "redis"]]) == [
        (1, "ltm", "redis")]


def test_every_skip_reaches_asv_as_skip_params():
    """Each benchmark method's asv skip_params are exactly the combinations its class's skip() names
    (asked at class creation); a method without any has none."""
    import importlib

    from benchmarks.catalog import MODULES
    from benchmarks.lifecycle import Benchmark, benchmark_names

    seen = 0
    for module_name in MODULES:
        module = importlib.import_module(f"benchmarks.{module_name}")
        for cls in vars(module).values():
            if not (isinstance(cls, type) and issubclass(cls, Benchmark) and cls.__module__ == module.__name__):
                continue
            bench = cls()
            for name in benchmark_names(cls):
                declared = [combo for combo in cls.combinations() if bench.skip(name, *combo)]
                assert list(getattr(getattr(cls, name), "skip_params", [])) == declared, f"{cls.__name__}.{name}"
                seen += bool(declared)
    assert seen >= 3  # the storage loops and LTM under Redis, at least


def test_a_forgotten_override_or_a_hand_made_skip_fails_when_the_class_is_defined():
    from benchmarks.lifecycle import CachedBenchmark, SystemBenchmark

    with pytest.raises(TypeError, match="prepare"):
        class NoPrepare(SystemBenchmark):
            def time_x(self):
                pass
    with pytest.raises(TypeError, match="measure"):
        class NoMeasure(CachedBenchmark):
            def setup_cache(self):
                return self.compute_cache()

            def track_x(self, cache):
                return 0.0
    with pytest.raises(TypeError, match="setup_cache"):
        class NoCache(CachedBenchmark):
            def measure(self):
                return {"x": 0.0}

            def track_x(self, cache):
                return 0.0
    with pytest.raises(TypeError, match="skip"):
        class HandMadeSkip(SystemBenchmark):
            params = [[1, 2]]

            def prepare(self, n):
                pass

            def time_x(self, n):
                pass

            time_x.skip_params = [(2,)]

    class Base(SystemBenchmark):  # no benchmarks of its own: a base class may leave prepare abstract
        pass


def test_cached_benchmark_skips_declared_combinations_and_measures_the_rest():
    from benchmarks.lifecycle import CachedBenchmark

    class Halves(CachedBenchmark):
        params = [[1, 2, 3]]
        param_names = ["n"]

        def setup_cache(self):
            return self.compute_cache()

        def skip(self, benchmark, n):
            return "odd" if n % 2 else None

        def measure(self, n):
            return {"half": n / 2}

        def track_half(self, cache, n):
            return self.value(cache, (n,), "half")

    assert Halves.track_half.skip_params == [(1,), (3,)]
    cache = Halves().setup_cache()
    assert cache == {(1,): "skipped: odd", (2,): {"half": 1.0}, (3,): "skipped: odd"}
    with pytest.raises(NotImplementedError, match="odd"):
        Halves().setup(cache, 1)


def test_the_workload_generators_import_without_the_suite():
    """benchmarks.workloads needs neither memory nor redis nor the configuration: tests and scripts
    that want states import it alone."""
    code = ("import sys; sys.path.insert(0, %r); import benchmarks.workloads as w; w.test_states(3, 2);"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('memory', 'redis', 'numpy')"
            " or m in ('benchmarks.common', 'benchmarks.backends', 'benchmarks.settings')))" % str(REPO))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "[]", proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize("category", CATEGORIES)
def test_category_quick_run(project, suite_catalog, redis_ok, postgres_ok, category):
    root, proj, env = project
    tmp_before = temp_listing(root / "tmp")
    redis_up = redis_keys() is not None

    run_asv(proj, env, "run", "--python=same", "--quick", "--set-commit-hash", "HEAD",
            "--show-stderr", "--bench", rf"^{category}\.", timeout=900)

    results = load_results(proj)
    expected = {k: v for k, v in suite_catalog.items() if k.startswith(category + ".")}
    assert expected
    problems = []
    for name, entry in expected.items():
        if name not in results:
            problems.append(f"{name}: no result")
            continue
        got = dict(results[name])
        for combo in expected_combos(entry):
            value = got.get(combo)
            if finite(value):
                continue
            if _skippable(combo, redis_ok, entry, postgres_ok):
                continue
            problems.append(f"{name}{combo}: {value!r}")
    assert not problems, "non-finite results:\n" + "\n".join(problems)

    # nothing left behind in this run's TMPDIR, nor in Redis under the namespaces its processes logged
    assert temp_listing(root / "tmp") == tmp_before
    if redis_up:
        log = root / NAMESPACE_LOG
        namespaces = set(log.read_text().split()) if log.is_file() else set()
        left = {ns: redis_keys(f"*{ns}*") for ns in sorted(namespaces)}
        assert not any(left.values()), {ns: n for ns, n in left.items() if n}

    _check_quality(category, results)


def _value(results, name, **params):
    for combo, value in results[name]:
        if all(repr(v) in combo for v in params.values()):
            return value
    raise KeyError((name, params))


def _check_quality(category, results):
    if category == "retrieval":
        for combo, value in results["retrieval.SearchRecall.track_recall"]:
            if combo[0] == "'stm'":
                assert value >= 0.99, f"exact STM search recall {combo}: {value}"
    elif category == "memory_transition":
        rows = results["memory_transition.ImportanceRetention.track_retention_rate"]
        thresholds = sorted({combo[0] for combo, _ in rows})
        for threshold in thresholds:
            rates = [v for combo, v in sorted(rows, key=lambda r: int(r[0][1])) if combo[0] == threshold]
            assert all(a <= b + 1e-9 for a, b in zip(rates, rates[1:])), f"retention not rising: {rates}"
            assert rates[-1] > rates[0], f"retention flat: {rates}"
        for _, rho in results["memory_transition.ImportanceCorrelation.track_rank_correlation"]:
            assert rho > 0.5
        for combo, value in results["memory_transition.TransitionAccuracy.track_numeric_within_precision_fraction"]:
            assert value >= 0.99, f"numeric leaves outside precision {combo}: {value}"
        for combo, value in results["memory_transition.TransitionAccuracy.track_categorical_exact_fraction"]:
            assert value >= 0.99, f"categorical leaves changed {combo}: {value}"
    elif category == "compression":
        for combo, value in results["compression.EmbeddingQuality.track_cosine_similarity"]:
            if combo[0] == "'stm'":
                assert value > 0.999
        for combo, value in results["compression.TierToTierRatio.track_size_ratio"]:
            assert value < 1.0, f"{combo}: a lower tier is not smaller ({value})"
    elif category == "storage":
        for combo, value in results["storage.MemoryEfficiency.track_stored_bytes_per_memory"]:
            assert value > 0, combo


@pytest.mark.slow
def test_virtualenv_build_of_head(tmp_path):
    """asv builds HEAD of this repository into a fresh virtualenv and runs one small benchmark."""
    try:
        git(REPO, "cat-file", "-e", "HEAD:asv.conf.json")
        git(REPO, "cat-file", "-e", "HEAD:benchmarks/storage.py")
    except subprocess.CalledProcessError:
        pytest.skip("HEAD of the repository has no commit with asv.conf.json and benchmarks/ yet "
                    "(the per-commit build needs one)")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True, timeout=120)
    for name in ("home", "tmp"):
        (tmp_path / name).mkdir()
    (tmp_path / "bench_config.json").write_text(
        '{"profile": "quick", "storage": {"batch_sizes": [10], "data_complexity_levels": [1]}}')
    env = asv_env(tmp_path)
    machine(clone, env)
    proc = run_asv(clone, env, "run", "HEAD^!", "--quick", "--show-stderr",
                   "--bench", r"^storage\.WriteThroughput\.time_store_batch\(.*'memory'\)$", timeout=1500)
    files = result_files(clone)
    assert files, proc.stdout[-3000:]
    results = load_results(clone)
    values = results["storage.WriteThroughput.time_store_batch"]
    assert any(finite(v) for combo, v in values if "'memory'" in combo), values
    assert list((clone / ".asv" / "env").iterdir()), "no isolated environment was built"

    # Plain `asv continuous` keeps working on the suite, sampled tracks included: an empty commit on
    # top (same tree), both built and run, asv's comparison printed, nothing 10x worse.
    git(clone, "-c", "user.email=t@localhost", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "same")
    proc = run_asv(clone, env, "continuous", "HEAD^", "HEAD", "--quick", "--factor", "10", "--show-stderr",
                   "--bench", r"^storage\.WriteThroughput\.time_store_batch\(.*'memory'\)$",
                   "--bench", r"^storage\.ReadLatencyP95\.track_p95_latency_ms\(1, 'stm', 'memory'\)$",
                   timeout=1500, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "BENCHMARKS NOT SIGNIFICANTLY CHANGED" in proc.stdout or "SOME BENCHMARKS HAVE CHANGED" in proc.stdout
    p95 = [v for combo, v in load_results(clone)["storage.ReadLatencyP95.track_p95_latency_ms"]
           if combo == ("1", "'stm'", "'memory'")]
    assert p95 and all(finite(v) for v in p95), p95


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.slow
@pytest.mark.browser
def test_publish_renders_graphs(project, tmp_path):
    """asv publish builds the site; headless Chromium renders a benchmark graph (not blank)."""
    root, proj, env = project
    if not result_files(proj):
        run_asv(proj, env, "run", "--python=same", "--quick", "--set-commit-hash", "HEAD",
                "--bench", r"^storage\.WriteThroughput", timeout=600)
    run_asv(proj, env, "publish")
    html = proj / ".asv" / "html"
    assert (html / "index.html").is_file()
    graphs = list((html / "graphs").rglob("*.json"))
    assert graphs, "publish wrote no graph data"

    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium (apt-get install -y chromium)")
    vendor = fetch_vendor()
    if vendor is None:
        pytest.skip("the site's JS libraries are on CDNs and npm could not fetch them")
    missing = localize_site(html, vendor)
    assert not missing, f"no local copy of {missing}"
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        shot = tmp_path / "graph.png"
        url = f"http://127.0.0.1:{port}/#storage.WriteThroughput.time_store_batch"
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={tmp_path / 'chrome-profile'}",
                        "--window-size=1280,900", "--virtual-time-budget=8000",
                        f"--screenshot={shot}", url],
                       check=True, capture_output=True, timeout=120, env=dict(os.environ, HOME=str(tmp_path)))
        assert shot.is_file()
        keep = os.environ.get("AGENTMEMORY_ASV_SCREENSHOT")
        if keep:
            shutil.copy2(shot, keep)
        _assert_graph_drawn(shot)
    finally:
        server.shutdown()
        server.server_close()


def _assert_graph_drawn(png: Path):
    import matplotlib.image as mpimg

    img = mpimg.imread(str(png))[..., :3]
    assert img.std() > 0.02, "screenshot is blank"
    # the plot area (right of the 200 px menu, below the 60 px nav bar): flot draws axes, grid and
    # one coloured series per backend there; the page around it is grey-scale
    plot = img[60:800, 220:1270]
    saturation = plot.max(axis=2) - plot.min(axis=2)
    assert (saturation > 0.3).sum() > 40, "no coloured series drawn in the plot area"
    dark = (plot.max(axis=2) < 0.5).sum()
    assert dark > 500, "no axes or labels drawn in the plot area"
