"""The asv adapter: asv result files → one documented JSON per benchmark.

Documented format (benchmarking-system.md, "Results Format")::

    {"benchmark": "write_throughput", "category": "storage", "timestamp": "20250323_145623",
     "results": {"complexity_1": {"batch_100": {"throughput_ops_per_second": 1250.5,
                                                "total_time_seconds": 0.08, "items_processed": 100}}},
     "metadata": {"execution_time": 15.2, "params": {...}, "commit": ..., "machine": ..., "python": ...,
                  "backend": ..., "packages": {...}, "stats": {"complexity_1/batch_100": {metric: {...}}}}}

``metadata.metric_kinds`` gives each metric's kind (timing, deterministic, resource); where a benchmark
declares a deterministic metric not reproducible at some parameter values (``not_reproducible``, e.g.
Chroma's HNSW recall), ``metadata.metric_kind_overrides`` judges it on the threshold at those paths only:
``{"implementation_chroma/n_memories_1000": {"recall_at_10": {"kind": "resource",
"reason": "not reproducible for chroma"}}}`` (paths as in ``stats``).

One documented benchmark = one asv class (all its ``time_``/``track_``/``peakmem_`` methods); the naming
rules are in :mod:`memory.benchmarking.naming`. Command line: ``python tools/asv_export.py``.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import math
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from memory.errors import ConfigError

from . import documents, naming, verdict

ASV_CONF_ENV = "AGENTMEMORY_ASV_CONFIG"
#: asv's benchmark types that measure memory (``peakmem_*``, ``mem_*``).
MEMORY_TYPES = ("peakmemory", "memory")
PACKAGES = ("agentmemory", "numpy", "asv", "asv_runner", "pandas", "matplotlib", "redis", "virtualenv")


class AdapterError(Exception):
    """An asv results directory or file cannot be read or holds nothing to export."""


# ---- the asv project ---------------------------------------------------------------------------


@dataclass
class AsvProject:
    """A located ``asv.conf.json`` with its directories resolved to absolute paths."""

    conf_path: Path
    root: Path
    conf: Dict[str, Any]

    @property
    def benchmark_dir(self) -> Path:
        """Absolute path of the suite (``benchmark_dir``)."""
        return (self.root / self.conf.get("benchmark_dir", "benchmarks")).resolve()

    @property
    def results_dir(self) -> Path:
        """Absolute path of asv's result store (``results_dir``)."""
        return (self.root / self.conf.get("results_dir", "results")).resolve()

    @property
    def repo(self) -> Path:
        """Absolute path of the project's repository."""
        return (self.root / self.conf.get("repo", ".")).resolve()

    @property
    def env_dir(self) -> Path:
        """Absolute path of the built environments (``env_dir``)."""
        return (self.root / self.conf.get("env_dir", "env")).resolve()

    def private_conf(self, results_dir: Path, html_dir: Path) -> Dict[str, Any]:
        """This project's asv configuration with its own results and html dirs (a private run that
        still uses the project's suite, repository and built environments), every path absolute."""
        conf = json.loads(json.dumps(self.conf))
        conf.update({"results_dir": str(results_dir), "html_dir": str(html_dir),
                     "benchmark_dir": str(self.benchmark_dir),
                     "env_dir": str(self.env_dir),
                     "repo": str(self.repo)})
        return conf


def _read_json_with_comments(path: Path) -> Dict[str, Any]:
    from asv import util  # asv.conf.json may hold // comments: read it the way asv does
    return util.load_json(str(path), js_comments=True)


def find_asv_config(start: Optional[os.PathLike] = None) -> Optional[Path]:
    """Locate asv.conf.json: $AGENTMEMORY_ASV_CONFIG, else `start` (default cwd) and its parents,
    else the source checkout this package is installed from (editable installs)."""
    env = os.environ.get(ASV_CONF_ENV, "").strip()
    if env:
        return Path(env).resolve()
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "asv.conf.json"
        if candidate.is_file():
            return candidate
    package_root = Path(__file__).resolve().parents[2] / "asv.conf.json"
    return package_root if package_root.is_file() else None


def load_project(conf_path: Optional[os.PathLike] = None) -> AsvProject:
    """Load the asv project at `conf_path` (default :func:`find_asv_config`); ConfigError if none."""
    path = Path(conf_path).resolve() if conf_path else find_asv_config()
    if path is None or not path.is_file():
        where = path or "the current directory, its parents or the package checkout"
        raise ConfigError(f"no asv.conf.json found in {where} (set {ASV_CONF_ENV})")
    try:
        conf = _read_json_with_comments(path)
    except Exception as exc:  # asv raises its own UserError types for bad JSON
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return AsvProject(conf_path=path, root=path.parent, conf=conf)


# ---- discovery ---------------------------------------------------------------------------------


def discover_suite(benchmark_dir: os.PathLike, env: Optional[Dict[str, str]] = None,
                   timeout_seconds: float = 300.0) -> List[Dict[str, Any]]:
    """Describe every asv benchmark of the suite (in a subprocess, the way asv imports it).

    Raises AdapterError with the suite's import error when it cannot be imported."""
    run_env = dict(os.environ)
    run_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "memory.benchmarking._discover", str(benchmark_dir)],
                          capture_output=True, text=True, env=run_env, timeout=timeout_seconds)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        raise AdapterError(f"cannot import the benchmark suite at {benchmark_dir}: "
                           f"{lines[-1] if lines else 'exit code ' + str(proc.returncode)}")
    return json.loads(proc.stdout or "[]")


def discover_configured(benchmark_dir: os.PathLike, config: Any) -> List[Dict[str, Any]]:
    """:func:`discover_suite` under a :class:`~memory.benchmarking.config.BenchmarkConfig` (its grids
    decide the parameters): the config goes to the suite as a scratch file, as ``asv run`` gets it."""
    import tempfile

    from .config import CONFIG_ENV, PROFILE_ENV

    with tempfile.TemporaryDirectory(prefix="agentmemory-bench-") as scratch:
        path = Path(scratch) / "benchmark_config.json"
        path.write_text(json.dumps(config.to_dict()), encoding="utf-8")
        return discover_suite(benchmark_dir, env={CONFIG_ENV: str(path), PROFILE_ENV: config.profile})


def group_benchmarks(infos: Iterable[Dict[str, Any]]) -> Dict[str, Dict[str, List[Dict[str, Any]]]]:
    """``{category: {benchmark: [asv benchmark info, ...]}}`` by the naming rules."""
    out: Dict[str, Dict[str, List[Dict[str, Any]]]] = {}
    for info in infos:
        category, benchmark = documented_names(info)
        out.setdefault(category, {}).setdefault(benchmark, []).append(info)
    return out


def documented_names(info: Dict[str, Any]) -> Tuple[str, str]:
    """(category, benchmark) of one asv benchmark info (from benchmarks.json or discovery)."""
    category, class_name, method = naming.split_asv_name(info["name"])
    benchmark = info.get("benchmark_name") or naming.default_benchmark_name(class_name, method)
    return category, str(benchmark)


# ---- asv result files --------------------------------------------------------------------------


def read_result_file(path: os.PathLike) -> Dict[str, Any]:
    """Load one asv result file; its ``results`` decoded to ``{asv_name: {column: value}}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterError(f"unreadable asv result file {path}: {exc}") from None
    if not isinstance(data, dict) or "results" not in data or "commit_hash" not in data:
        raise AdapterError(f"{path} is not an asv result file")
    columns = data.get("result_columns")
    decoded: Dict[str, Dict[str, Any]] = {}
    for name, entry in (data.get("results") or {}).items():
        if columns and isinstance(entry, list):
            decoded[name] = dict(zip(columns, entry))
        elif isinstance(entry, dict):  # older asv formats
            decoded[name] = dict(entry)
        else:
            decoded[name] = {"result": entry, "params": []}
    data["decoded"] = decoded
    data["path"] = str(path)
    return data


def list_result_files(results_dir: os.PathLike, commit: Optional[str] = None) -> List[Path]:
    """Result files under `results_dir` (every machine): those of `commit` (a hash prefix), else the
    one most recently run. Raises AdapterError when there are none."""
    root = Path(results_dir)
    if not root.is_dir():
        raise AdapterError(f"asv results directory not found: {root}")
    files = [p for p in sorted(root.glob("*/*.json")) if p.name != "machine.json"]
    if not files:
        raise AdapterError(f"no asv result files in {root} (run `asv run` first)")
    if commit:
        chosen = []
        for p in files:
            try:
                head = json.loads(p.read_text(encoding="utf-8")).get("commit_hash", "")
            except (OSError, json.JSONDecodeError):
                print(f"warning: skipping unreadable asv result file {p}", file=sys.stderr)
                continue
            if str(head).startswith(commit):
                chosen.append(p)
        if not chosen:
            raise AdapterError(f"no asv results for commit {commit} in {root}")
        return chosen

    def last_run(p: Path) -> float:
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return -1.0
        cols = data.get("result_columns") or []
        idx = cols.index("started_at") if "started_at" in cols else None
        stamps = [e[idx] for e in (data.get("results") or {}).values()
                  if idx is not None and isinstance(e, list) and len(e) > idx and e[idx]]
        return max(stamps, default=data.get("date") or 0)

    return [max(files, key=last_run)]


def load_benchmarks_json(results_dir: os.PathLike) -> Dict[str, Dict[str, Any]]:
    """asv's ``benchmarks.json`` (name → info incl. function-level custom attributes), or {}."""
    path = Path(results_dir) / "benchmarks.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}


# ---- conversion --------------------------------------------------------------------------------


def package_versions() -> Dict[str, str]:
    """Installed versions of the packages that shape the numbers (this interpreter's)."""
    from importlib import metadata
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _set_leaf(tree: Dict[str, Any], path: Sequence[str], metric: str, value: Any) -> None:
    node = tree
    for key in path:
        node = node.setdefault(key, {})
    node[metric] = value


def _column(entry: Dict[str, Any], name: str, index: int) -> Any:
    values = entry.get(name)
    if isinstance(values, list) and index < len(values):
        return values[index]
    return None


def _asv_stats(entry: Dict[str, Any], index: int) -> Dict[str, Any]:
    """asv's statistics of one parameter combination, plus its samples (``asv run --record-samples``),
    their count ``n``, robust relative ``spread`` (:func:`verdict.spread`) and, when the run told its
    rounds apart, ``samples_per_round`` (each round is one benchmark process)."""
    cell: Dict[str, Any] = {}
    ci_a, ci_b = _column(entry, "stats_ci_99_a", index), _column(entry, "stats_ci_99_b", index)
    if naming.is_finite(ci_a) and naming.is_finite(ci_b):
        cell["ci_99"] = [ci_a, ci_b]
    for src, dst in (("stats_q_25", "q25"), ("stats_q_75", "q75"), ("stats_repeat", "repeat"),
                     ("stats_number", "number")):
        value = _column(entry, src, index)
        if value is not None:
            cell[dst] = value
    samples = _column(entry, "samples", index)
    if isinstance(samples, list):
        finite = [float(x) for x in samples if naming.is_finite(x)]
        if finite:
            cell["samples"] = finite
            cell["n"] = len(finite)
            sizes = _column(entry, "samples_per_round", index)
            if len(finite) == len(samples) and isinstance(sizes, list) and len(sizes) > 1 \
                    and sum(sizes) == len(finite):
                cell["samples_per_round"] = sizes
            dispersion = verdict.spread(finite)
            if dispersion is not None:
                cell["spread"] = round(dispersion, 6)
    return cell


def _scaled(cell: Dict[str, Any], factor: float, invert: bool) -> Dict[str, Any]:
    """Statistics of ``factor / x`` (invert) or ``x / factor`` from those of x (samples included).
    asv's 99% interval of x is not carried over to a throughput: its lower bound is often <= 0 with
    few samples; the samples (and the quartiles) are."""
    out: Dict[str, Any] = {k: cell[k] for k in ("repeat", "number", "n", "spread", "samples_per_round")
                           if k in cell}

    def f(x: float) -> float:
        return factor / x if invert else x / factor

    if "ci_99" in cell and not invert:
        a, b = cell["ci_99"]
        out["ci_99"] = sorted([f(a), f(b)])
    if naming.is_finite(cell.get("q25")) and naming.is_finite(cell.get("q75")) \
            and (not invert or min(cell["q25"], cell["q75"]) > 0):
        q = sorted([f(cell["q25"]), f(cell["q75"])])
        out["q25"], out["q75"] = q
    if cell.get("samples") and (not invert or min(cell["samples"]) > 0):
        out["samples"] = [f(x) for x in cell["samples"]]
    return out


def _items_spec(info: Dict[str, Any], param_names: Sequence[str]) -> Any:
    spec = info.get("items_per_call")
    if spec is None:
        spec = info.get("items_param")
    if spec is None:  # no declaration (e.g. benchmarks.json only): a batch-like parameter
        spec = next((p for p in naming.ITEM_PARAM_NAMES if p in param_names), None)
    return spec


def _parse_grid(entry: Dict[str, Any], info: Dict[str, Any]) -> Tuple[List[str], List[List[Any]]]:
    raw = entry.get("params") or []
    names = list(info.get("param_names") or [])
    if len(names) != len(raw):
        names = [f"param{i + 1}" for i in range(len(raw))]
    return names, raw


def _result_values(entry: Dict[str, Any]) -> List[Any]:
    """asv's results of one benchmark, one per parameter combination (None: failed, NaN: skipped)."""
    result = entry.get("result")
    return result if isinstance(result, list) else [result]


def _is_skipped(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


@dataclass
class _Grid:
    """Pass 1 of :func:`build_document`: every parameter's values, those measured (not skipped, in
    order) and its path-key prefix; `fixed`, the parameters measured at one value of several."""

    values: Dict[str, List[Any]] = field(default_factory=dict)
    measured: Dict[str, List[Any]] = field(default_factory=dict)
    param_keys: Dict[str, str] = field(default_factory=dict)

    def scan(self, info: Dict[str, Any], entry: Dict[str, Any]) -> None:
        """Add the grid of one asv benchmark and the values of its measured combinations."""
        names, raw = _parse_grid(entry, info)
        for name, values in zip(names, raw):
            naming.extend_new(self.values.setdefault(name, []), map(naming.parse_param_value, values))
            self.param_keys[name] = naming.param_key(name, info.get("param_keys"))
        results = _result_values(entry)
        for index, combo in enumerate(itertools.product(*raw)):
            if not _is_skipped(results[index] if index < len(results) else None):
                for name, text in zip(names, combo):
                    naming.extend_new(self.measured.setdefault(name, []), [naming.parse_param_value(text)])

    @property
    def fixed(self) -> Dict[str, Any]:
        """A parameter whose other values were all skipped (NotImplementedError, e.g. no Redis) is
        not nested: {name: its one measured value}."""
        return {name: values[0] for name, values in self.measured.items()
                if len(values) == 1 and len(self.values.get(name, [])) > 1}

    def backend(self) -> str:
        """The backend(s) measured: the fixed one, else those measured joined by commas, else "memory"."""
        return self.fixed.get("backend") or ",".join(str(b) for b in self.measured.get("backend", [])) \
            or "memory"


@dataclass(frozen=True)
class _Method:
    """One asv benchmark (a method of the documented class) as pass 2 reads it: its grid, the order
    its parameters nest in, the metric its value is and the names of the metrics derived from it."""

    info: Dict[str, Any]
    entry: Dict[str, Any]
    names: List[str]
    raw: List[List[Any]]
    order: List[str]
    metric: str
    time_names: Dict[str, str]
    items_spec: Any  # items a call processes (throughput): a count or an expression of the params
    ops_spec: Any  # operations a call makes (latency), likewise

    @property
    def name(self) -> str:
        """asv's name of the benchmark (``category.Class.method``)."""
        return self.info["name"]

    @property
    def is_time(self) -> bool:
        """A timing (its positive values give throughput and latency metrics)."""
        return self.info.get("type") == "time"

    def kind(self) -> str:
        """The main metric's kind: a track's declared ``metric_kind``, else the naming rules'."""
        declared = self.info.get("metric_kind")
        if self.info.get("type") not in ("time", *MEMORY_TYPES) and declared in verdict.KINDS:
            return declared
        return naming.metric_kind(self.metric, self.info.get("type", ""))


def not_reproducible(info: Dict[str, Any], values: Dict[str, Any]) -> Optional[str]:
    """Why benchmark `info`'s metric is not exactly reproducible at parameter `values` ("not reproducible
    for chroma"), by its ``not_reproducible`` declaration ({param: [values]}); None where it is."""
    declared = info.get("not_reproducible")
    for name, listed in (declared.items() if isinstance(declared, dict) else ()):
        value = values.get(name)
        if name in values and isinstance(listed, list) and value in listed:
            return f"not reproducible for {value if isinstance(value, str) else f'{name} {value}'}"
    return None


def _metric_names(info: Dict[str, Any], primary_time: Optional[str],
                  single_memory: bool) -> Tuple[str, Dict[str, str]]:
    """(main metric, {"total"/"items"/"throughput"/"latency": metric} of a timing, else {}) of one
    asv benchmark: the naming rules, or the class's ``metric_names`` override of the method."""
    _, _, method = naming.split_asv_name(info["name"])
    btype = info.get("type", "")
    overrides = info.get("metric_names") or {}
    if btype == "time":
        time_names = naming.time_metric_names(method, info["name"] == primary_time)
        if method in overrides:
            time_names["total"] = overrides[method]
        return time_names["total"], time_names
    if btype in MEMORY_TYPES:
        return overrides.get(method) or naming.memory_metric_name(btype, method, single_memory), {}
    return overrides.get(method) or naming.track_metric_name(method, info.get("unit")), {}


@dataclass
class _Metrics:
    """Pass 2 of :func:`build_document`: the results tree and what ``metadata`` says of its metrics."""

    tree: Dict[str, Any] = field(default_factory=dict)
    stats: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    failed: List[Dict[str, Any]] = field(default_factory=list)
    skipped: List[Dict[str, Any]] = field(default_factory=list)
    units: Dict[str, str] = field(default_factory=dict)
    sources: Dict[str, str] = field(default_factory=dict)
    directions: Dict[str, int] = field(default_factory=dict)
    kinds: Dict[str, str] = field(default_factory=dict)
    kind_overrides: Dict[str, Dict[str, Dict[str, str]]] = field(default_factory=dict)
    derived: Dict[str, str] = field(default_factory=dict)
    unstable: List[Dict[str, Any]] = field(default_factory=list)
    seed_metrics: Dict[str, Any] = field(default_factory=dict)
    started: List[float] = field(default_factory=list)
    duration: float = 0.0

    def _declare(self, metric: str, unit: str, source: str, kind: str, derived_from: Optional[str] = None) -> None:
        self.units[metric] = unit
        self.sources[metric] = source
        if derived_from is not None:
            self.derived[metric] = derived_from
        self.kinds[metric] = kind

    def add_method(self, method: _Method) -> None:
        """Add one asv benchmark: its run time, its metric's metadata, then each parameter combination."""
        info, entry = method.info, method.entry
        if entry.get("started_at"):
            self.started.append(entry["started_at"])
        self.duration += float(entry.get("duration") or 0.0)
        self._declare(method.metric, info.get("unit", ""), method.name, method.kind())
        if info.get("seed_metrics"):
            self.seed_metrics[method.name] = info["seed_metrics"]
        if isinstance(info.get("higher_is_better"), bool):
            self.directions[method.metric] = 1 if info["higher_is_better"] else -1
        results = _result_values(entry)
        for index, combo in enumerate(itertools.product(*method.raw)):
            self._add_value(method, index, combo, results[index] if index < len(results) else None)

    def _add_value(self, method: _Method, index: int, combo: Tuple[Any, ...], value: Any) -> None:
        """One parameter combination's value: failed (None), skipped (NaN), or a leaf with its statistics."""
        values = {n: naming.parse_param_value(v) for n, v in zip(method.names, combo)}
        keys = method.info.get("param_keys")
        path = [naming.path_key(n, values[n], keys) for n in method.order]
        full = naming.join_path(naming.path_key(n, values[n], keys) for n in method.names)
        if value is None or _is_skipped(value):
            (self.failed if value is None else self.skipped).append({"asv_name": method.name, "params": full})
            return
        cell = _asv_stats(method.entry, index)
        if cell:
            cell["asv_params"] = list(combo)  # asv's "name(p1, p2)" selects this combination again
        path_stats = self.stats.setdefault(naming.join_path(path), {})
        _set_leaf(self.tree, path, method.metric, value)
        self._override_kind(method, values, naming.join_path(path))
        if cell:
            path_stats[method.metric] = cell
            if self.kinds[method.metric] == "timing" and cell.get("spread", 0.0) > verdict.UNSTABLE_SPREAD:
                self.unstable.append({"asv_name": method.name, "params": full, "metric": method.metric,
                                      "spread": cell["spread"], "n": cell.get("n", 0)})
        if method.is_time and value > 0:
            self._add_rates(method, values, path, value, cell)

    def _override_kind(self, method: _Method, values: Dict[str, Any], path: str) -> None:
        """Record that a deterministic metric is judged on the threshold at `path` when its benchmark
        declares it not reproducible at these parameter values (``not_reproducible``)."""
        why = not_reproducible(method.info, values) if self.kinds[method.metric] == "deterministic" else None
        if why:
            self.kind_overrides.setdefault(path, {})[method.metric] = {"kind": "resource", "reason": why}

    def _add_rates(self, method: _Method, values: Dict[str, Any], path: List[str], value: float,
                   cell: Dict[str, Any]) -> None:
        """The metrics a positive timing gives: items and throughput (``items_per_call``), latency
        (``ops_per_call``, unless 1)."""
        items = naming.evaluate_count(method.items_spec, values)
        if items is not None:
            _set_leaf(self.tree, path, method.time_names["items"], int(items) if items.is_integer() else items)
            self._add_rate(method, path, "throughput", items / value, "ops/s",
                           _scaled(cell, items, invert=True) if cell else None)
        ops = naming.evaluate_count(method.ops_spec, values)
        if ops is not None and ops != 1:
            self._add_rate(method, path, "latency", value / ops, "seconds",
                           _scaled(cell, ops, invert=False) if cell else None)

    def _add_rate(self, method: _Method, path: List[str], role: str, value: float, unit: str,
                  stats: Optional[Dict[str, Any]]) -> None:
        metric = method.time_names[role]
        _set_leaf(self.tree, path, metric, value)
        self._declare(metric, unit, method.name, "timing", derived_from=method.metric)
        if stats is not None:
            self.stats[naming.join_path(path)][metric] = stats

    def started_at(self) -> Optional[float]:
        """When asv started the first of these benchmarks (ms since the epoch), or None."""
        return min(self.started) if self.started else None


def _methods(infos: List[Dict[str, Any]], decoded: Dict[str, Any], fixed: Dict[str, Any]) -> List[_Method]:
    """The asv benchmarks of `infos` found in the result file, in declaration order. Metric names follow
    the class's declared benchmarks, not the ones this run selected, so a run of a subset (asv -b, a
    confirmation pass) names its metrics as a run of the whole class does."""
    single_memory = sum(1 for i in infos if i.get("type") in MEMORY_TYPES) == 1
    primary_time = next((i["name"] for i in infos if i.get("type") == "time"), None)
    methods = []
    for info in infos:
        if info["name"] not in decoded:
            continue
        entry = decoded[info["name"]]
        names, raw = _parse_grid(entry, info)
        order = [n for n in naming.nesting_order(names, info.get("items_per_call")) if n not in fixed]
        metric, time_names = _metric_names(info, primary_time, single_memory)
        methods.append(_Method(info, entry, names, raw, order, metric, time_names,
                               _items_spec(info, names), info.get("ops_per_call")))
    return methods


def _metadata(metrics: _Metrics, grid: _Grid, infos: List[Dict[str, Any]], result: Dict[str, Any],
              params: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """A document's ``metadata``: the run, the machine, the grid and what each metric is."""
    machine_info = dict(result.get("params") or {})
    started = metrics.started_at()
    metadata: Dict[str, Any] = {
        "execution_time": round(metrics.duration, 6),
        "params": params if params is not None else grid.values,
        "asv_params": grid.values,
        "fixed_params": grid.fixed,
        "param_keys": grid.param_keys,
        "commit": result.get("commit_hash"),
        "machine": machine_info.get("machine"),
        "machine_info": machine_info,
        "python": machine_info.get("python") or result.get("python"),
        "python_version": platform.python_version(),
        "env_name": result.get("env_name"),
        "backend": grid.backend(),
        "packages": package_versions(),
        "requirements": result.get("requirements") or {},
        "asv_benchmarks": [i["name"] for i in infos],
        "metric_sources": metrics.sources,
        "units": metrics.units,
        "metric_kinds": metrics.kinds,
        "derived_metrics": metrics.derived,
        "unstable": sorted(metrics.unstable, key=lambda u: -u["spread"]),
        "stats": {k: v for k, v in metrics.stats.items() if v},
        "source": result.get("path"),
        "started_at": (_dt.datetime.fromtimestamp(started / 1000.0, _dt.timezone.utc).isoformat()
                       if started else None),
    }
    optional = (("metric_directions", metrics.directions), ("seed_metrics", metrics.seed_metrics),
                ("metric_kind_overrides", metrics.kind_overrides), ("failed", metrics.failed),
                ("skipped", metrics.skipped))
    metadata.update((key, value) for key, value in optional if value)
    return metadata


def _document_error(found_any: bool, failed: List[Dict[str, Any]], error: Optional[str]) -> Optional[str]:
    """A document's ``error``: `error` (the runner's) or a summary, when asv recorded nothing or some
    combinations failed; None when all went well."""
    if not found_any:
        return error or "asv recorded no result for this benchmark"
    if not failed:
        return None
    names = naming.dedupe(f["asv_name"] + (f" [{f['params']}]" if f["params"] else "") for f in failed)
    return error or ("failed: " + "; ".join(names[:10]) + (f" (+{len(names) - 10} more)" if len(names) > 10 else ""))


def build_document(category: str, benchmark: str, infos: List[Dict[str, Any]], result: Dict[str, Any],
                   params: Optional[Dict[str, Any]] = None, error: Optional[str] = None,
                   extra_metadata: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """One documented JSON document from the asv benchmarks `infos` of (category, benchmark) found
    in the decoded result file `result`. `error` (e.g. from the runner's captured output) is used
    when a benchmark failed.

    Parameters are nested in asv's order with volume-like ones innermost
    (:func:`naming.nesting_order`); a parameter with a single measured value (e.g. backend "memory"
    when Redis is absent and its combinations were skipped) is not nested but recorded in
    ``metadata.fixed_params``."""
    decoded = result["decoded"]
    infos = sorted(infos, key=lambda i: (i.get("lineno") or 0, i["name"]))
    grid = _Grid()
    for info in infos:
        if info["name"] in decoded:
            grid.scan(info, decoded[info["name"]])
    methods = _methods(infos, decoded, grid.fixed)
    metrics = _Metrics()
    for method in methods:
        metrics.add_method(method)
    metadata = _metadata(metrics, grid, infos, result, params)
    metadata.update(extra_metadata or {})
    document: Dict[str, Any] = {"benchmark": benchmark, "category": category,
                                "timestamp": documents.result_timestamp(metrics.started_at()),
                                "results": metrics.tree, "metadata": metadata}
    message = _document_error(bool(methods), metrics.failed, error)
    if message is not None:
        document["error"] = message
    return document


def write_document(document: Dict[str, Any], output_dir: os.PathLike) -> str:
    """Write `document` to ``<output_dir>/<category>/<benchmark>_<timestamp>.json`` (a numbered
    suffix avoids overwriting); return the path. Names from asv's files become safe file names, so
    the path stays inside `output_dir`; ResultsError when a folder there links elsewhere."""
    return documents.write_new_document(output_dir, document)


def merge_infos(from_results: Dict[str, Dict[str, Any]],
                discovered: Optional[List[Dict[str, Any]]] = None) -> List[Dict[str, Any]]:
    """Benchmark infos: asv's benchmarks.json entries, refined by the suite's class attributes."""
    merged = {name: dict(info, name=name) for name, info in from_results.items()}
    for info in discovered or []:
        base = merged.setdefault(info["name"], {})
        for key, value in info.items():
            base.setdefault(key, value)
    return list(merged.values())


def _file_infos(result_file: os.PathLike, result: Dict[str, Any],
                benchmark_dir: Optional[os.PathLike]) -> List[Dict[str, Any]]:
    """The infos of the benchmarks in one result file: its results dir's benchmarks.json, refined by
    importing `benchmark_dir` when given, plus a guess for each benchmark neither describes."""
    from_results = load_benchmarks_json(Path(result_file).parent.parent)
    discovered = None
    if benchmark_dir is not None:
        try:
            discovered = discover_suite(benchmark_dir)
        except (AdapterError, OSError, subprocess.SubprocessError) as exc:
            print(f"warning: {exc}; using asv's benchmarks.json only", file=sys.stderr)
    infos = merge_infos(from_results, discovered)
    known = {i["name"] for i in infos}
    for name in result["decoded"]:  # benchmarks.json may be missing
        if name not in known:
            infos.append({"name": name, "type": _guess_type(name), "unit": "", "param_names": []})
    return infos


def export_results(result_files: Sequence[os.PathLike], output_dir: os.PathLike,
                   infos: Optional[List[Dict[str, Any]]] = None, benchmark_dir: Optional[os.PathLike] = None,
                   only: Optional[Iterable[Tuple[str, str]]] = None,
                   params: Optional[Dict[str, Any]] = None, errors: Optional[Dict[str, str]] = None,
                   extra_metadata: Optional[Dict[str, Any]] = None,
                   samples_per_round: Optional[Dict[str, List[List[int]]]] = None) -> List[str]:
    """Convert asv result files into documented JSON files in `output_dir`; return the paths.

    `infos` describe the benchmarks (default: the results dir's benchmarks.json, refined by importing
    `benchmark_dir` when given); `only` limits to (category, benchmark) pairs; `errors` maps
    (category/benchmark) to a captured error message; `samples_per_round` ({asv name: [sizes] per
    parameter combination}, :mod:`memory.benchmarking.rounds`) splits each timing's samples by round."""
    written: List[str] = []
    wanted = set(only) if only is not None else None
    for result_file in result_files:
        result = read_result_file(result_file)
        for name, sizes in (samples_per_round or {}).items():
            if name in result["decoded"]:
                result["decoded"][name]["samples_per_round"] = sizes
        groups = group_benchmarks(infos if infos is not None else _file_infos(result_file, result, benchmark_dir))
        for category, benchmark in sorted((c, b) for c in groups for b in groups[c]):
            members = groups[category][benchmark]
            if wanted is not None and (category, benchmark) not in wanted:
                continue
            if wanted is None and not any(m["name"] in result["decoded"] for m in members):
                continue
            doc = build_document(category, benchmark, members, result, params=params,
                                 error=(errors or {}).get(f"{category}/{benchmark}"), extra_metadata=extra_metadata)
            try:
                written.append(write_document(doc, output_dir))
            except documents.ResultsError as exc:  # a folder linking elsewhere, a name no reader takes
                documents.warn(f"skipping {category}/{benchmark}: {exc}")
    return written


def _guess_type(name: str) -> str:
    prefix, _ = naming.strip_prefix(name.rsplit(".", 1)[-1])
    return {"time": "time", "timeraw": "time", "track": "track", "peakmem": "peakmemory",
            "mem": "memory"}.get(prefix, "track")


# ---- command line (tools/asv_export.py) ---------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``asv_export.py [--results-dir D] [--commit HASH] [--benchmark-dir D] --output-dir D``.
    Exit 0 on success, 1 on any error (one line on stderr)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="asv_export.py",
        description="Export asv result files to the documented benchmark JSON (one file per benchmark).")
    parser.add_argument("--results-dir", help="asv results directory (default: results_dir of asv.conf.json, "
                                              "else .asv/results)")
    parser.add_argument("--commit", help="export this commit (hash prefix); default: the latest run")
    parser.add_argument("--benchmark-dir", help="the asv suite, imported for naming attributes "
                                                "(default: benchmark_dir of asv.conf.json)")
    parser.add_argument("--output-dir", required=True, help="where <category>/<benchmark>_<timestamp>.json go")
    args = parser.parse_args(argv)
    try:
        project = None
        try:
            project = load_project()
        except ConfigError:
            pass
        results_dir = Path(args.results_dir) if args.results_dir else (
            project.results_dir if project else Path(".asv/results"))
        bench_dir = args.benchmark_dir or (str(project.benchmark_dir) if project else None)
        if bench_dir and not Path(bench_dir).is_dir():
            raise AdapterError(f"benchmark directory not found: {bench_dir}")
        files = list_result_files(results_dir, args.commit)
        written = export_results(files, args.output_dir, benchmark_dir=bench_dir)
    except (AdapterError, ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not written:
        print(f"error: nothing to export from {', '.join(str(f) for f in files)}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    print(f"exported {len(written)} benchmark file(s) to {args.output_dir}", file=sys.stderr)
    return 0
