"""Naming rules shared by the adapter, results and compare: asv names → documented names, metric
directions, and parameter path keys such as ``batch_100``.

The rules (overridable per asv class, see README "Writing a benchmark for the adapter"):

- category = the asv module (``storage.WriteThroughput.time_write`` → ``storage``);
- benchmark = the class's ``benchmark_name`` attribute, else the class name in snake_case
  (``WriteThroughput`` → ``write_throughput``); a module-level function drops its asv prefix;
- a parameter ``batch_size`` with value 100 becomes the path key ``batch_100`` (a trailing ``_size`` is
  dropped; ``param_keys = {"name": "key"}`` on the class overrides);
- metric names: see :func:`metric_names_for`.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

ASV_PREFIXES = ("timeraw_", "time_", "track_", "peakmem_", "mem_")
PATH_SEP = "/"

# Parameters whose value is the number of items one call processes (gives items_processed/throughput).
ITEM_PARAM_NAMES = ("batch_size", "num_items", "n_items", "items", "num_operations", "operations",
                    "operations_per_test", "query_count", "num_queries", "n_queries")

# Tokens deciding a metric's direction; higher-is-better tokens are checked first, so
# "throughput_ops_per_second" is higher-better even though it mentions seconds.
HIGHER_BETTER = ("throughput", "ops_per_second", "per_second", "recall", "precision", "ratio", "similarity",
                 "retention", "accuracy", "per_mb", "efficiency", "correlation", "hit_rate", "cosine",
                 "speedup", "score", "found_fraction", "exact_fraction", "within_precision")
LOWER_BETTER = ("time", "latency", "seconds", "_ms", "bytes", "mse", "memory", "loss", "overhead",
                "error", "duration", "p95", "p99")
LOWER_SUFFIXES = ("_s", "_us", "_ns")

# asv units → metric-name suffixes appended to a track's name when its name lacks them.
UNIT_SUFFIXES = {"seconds": "seconds", "s": "seconds", "ms": "ms", "milliseconds": "ms",
                 "bytes": "bytes", "byte": "bytes", "percent": "percent", "%": "percent",
                 "ops/s": "ops_per_second", "ops_per_second": "ops_per_second", "mb": "mb"}


def snake_case(name: str) -> str:
    """``WriteThroughput`` → ``write_throughput``; ``IMWrite`` → ``im_write``."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.replace("__", "_").lower()


def strip_prefix(method: str) -> Tuple[str, str]:
    """Split an asv method name into (prefix without '_', rest): ``time_write`` → (``time``, ``write``)."""
    for prefix in ASV_PREFIXES:
        if method.startswith(prefix):
            return prefix[:-1], method[len(prefix):]
    return "", method


def split_asv_name(asv_name: str) -> Tuple[str, Optional[str], str]:
    """``storage.WriteThroughput.time_write`` → (``storage``, ``WriteThroughput``, ``time_write``);
    a module-level function gives class None. Nested modules keep only the first part as category."""
    parts = asv_name.split(".")
    if len(parts) == 1:
        return "", None, parts[0]
    if len(parts) == 2:
        return parts[0], None, parts[1]
    if parts[-2][:1].isupper():
        return parts[0], parts[-2], parts[-1]
    return parts[0], None, parts[-1]


def default_benchmark_name(class_name: Optional[str], method: str) -> str:
    """Documented benchmark name of an asv benchmark without a ``benchmark_name`` attribute."""
    if class_name:
        return snake_case(class_name)
    return strip_prefix(method)[1] or method


def param_key(param_name: str, overrides: Optional[Dict[str, str]] = None) -> str:
    """The path-key prefix of a parameter: ``batch_size`` → ``batch``, ``complexity`` → ``complexity``."""
    if overrides and param_name in overrides:
        return overrides[param_name]
    if param_name.endswith("_size") and len(param_name) > 5:
        return param_name[:-5]
    return param_name


def parse_param_value(text: Any) -> Any:
    """asv stores parameter values as repr strings ("100", "'memory'"); return the Python value."""
    if not isinstance(text, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def format_value(value: Any) -> str:
    """How a parameter value appears in a path key: 100 → "100", 'memory' → "memory", 0.5 → "0.5"."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(value)
    return str(value)


def path_key(param_name: str, value: Any, overrides: Optional[Dict[str, str]] = None) -> str:
    """``("batch_size", 100)`` → ``batch_100``."""
    return f"{param_key(param_name, overrides)}_{format_value(value)}"


def key_value(key: str, prefix: str) -> Optional[Any]:
    """The value in path key `key` when it starts with ``prefix_``, as int/float when numeric."""
    if not key.startswith(prefix + "_"):
        return None
    raw = key[len(prefix) + 1:]
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            pass
    return raw


def unit_suffix(unit: Optional[str]) -> Optional[str]:
    """The metric-name suffix for an asv unit ("bytes" → "bytes"), or None for unitless tracks."""
    if not unit:
        return None
    return UNIT_SUFFIXES.get(unit.strip().lower())


def track_metric_name(method: str, unit: Optional[str]) -> str:
    """``track_p95_latency_ms`` → ``p95_latency_ms``; ``track_tier`` with unit bytes → ``tier_bytes``
    (the unit's suffix is appended only when the name does not already mention it)."""
    _, rest = strip_prefix(method)
    suffix = unit_suffix(unit)
    if suffix and suffix not in rest.split("_"):
        return f"{rest}_{suffix}"
    return rest


def time_metric_names(method: str, primary: bool) -> Dict[str, str]:
    """Metric names of a ``time_*`` benchmark: ``total``, ``items``, ``throughput`` and ``latency``.

    The class's primary time method (the first one defined) yields the seed's names
    (``total_time_seconds``, ``items_processed``, ``throughput_ops_per_second``, ``latency_seconds``);
    any other is prefixed by its name (``store_batch_total_time_seconds`` ...)."""
    prefix = "" if primary else strip_prefix(method)[1] + "_"
    return {"total": f"{prefix}total_time_seconds", "items": f"{prefix}items_processed",
            "throughput": f"{prefix}throughput_ops_per_second", "latency": f"{prefix}latency_seconds"}


def memory_metric_name(bench_type: str, method: str, sole: bool) -> str:
    """``peakmem_*`` → ``peak_memory_bytes`` (``<rest>_peak_memory_bytes`` when the class has several);
    ``mem_*`` → ``memory_bytes`` likewise."""
    base = "peak_memory_bytes" if bench_type == "peakmemory" else "memory_bytes"
    return base if sole else f"{strip_prefix(method)[1]}_{base}"


def evaluate_count(spec: Any, values: Dict[str, Any]) -> Optional[float]:
    """Evaluate an ``items_per_call``/``ops_per_call`` spec (a number, a parameter name, or a list of
    those multiplied) for one parameter combination; None when it cannot be evaluated."""
    if isinstance(spec, (list, tuple)):
        total = 1.0
        for part in spec:
            value = evaluate_count(part, values)
            if value is None:
                return None
            total *= value
        return total
    if isinstance(spec, str):
        spec = values.get(spec)
    if is_finite(spec) and spec > 0:
        return float(spec)
    return None


def count_params(spec: Any) -> List[str]:
    """Parameter names an ``items_per_call`` spec refers to."""
    if isinstance(spec, (list, tuple)):
        return [p for part in spec for p in count_params(part)]
    return [spec] if isinstance(spec, str) else []


# Volume-like parameters: nested innermost in results (they are the x axis of plots).
VOLUME_PARAMS = ("batch_size", "volume", "memory_size", "dataset_size", "num_memories", "data_volume",
                 "agents", "agent_count", "num_agents", "clients", "query_count")


# Parameters nested outermost: each backend gets a subtree of the seed's shape.
OUTER_PARAMS = ("backend",)


def nesting_order(param_names: Sequence[str], items_spec: Any = None) -> List[str]:
    """Order of parameters in the results tree: asv's order, with volume-like parameters (those the
    ``items_per_call`` spec names, or in VOLUME_PARAMS) moved innermost and ``backend`` outermost, so
    ``[batch_size, complexity, backend]`` nests as ``backend_memory/complexity_1/batch_100`` (and as the
    seed's ``complexity_1/batch_100`` when only one backend was measured)."""
    volume = set(count_params(items_spec)) | set(VOLUME_PARAMS)
    outer = [p for p in param_names if p in OUTER_PARAMS]
    middle = [p for p in param_names if p not in volume and p not in OUTER_PARAMS]
    return outer + middle + [p for p in param_names if p in volume and p not in OUTER_PARAMS]


def metric_direction(metric: str) -> int:
    """+1 when higher is better, -1 when lower is better, 0 when neutral (not compared)."""
    name = metric.lower()
    if name.endswith("items_processed") or name in ("count",):
        return 0
    for token in HIGHER_BETTER:
        if token in name:
            return 1
    if any(token in name for token in LOWER_BETTER) or name.endswith(LOWER_SUFFIXES):
        return -1
    return 0


# Tokens of metrics measured with a clock (judged on samples), and of peak-memory metrics (judged on the
# threshold); every other metric is deterministic (seeded quality, sizes, counts: judged exactly).
TIMING_TOKENS = ("time", "latency", "seconds", "_ms", "throughput", "per_second", "overhead", "efficiency",
                 "p95", "p99", "duration", "cpu", "speedup")
RESOURCE_TOKENS = ("peak_memory", "memory_bytes", "peakmem", "rss")


def metric_kind(metric: str, asv_type: str = "") -> str:
    """``timing``, ``resource`` or ``deterministic`` for a metric without a declared kind: asv's
    benchmark type first (time → timing, peakmemory/memory → resource), then the name's tokens."""
    if asv_type == "time":
        return "timing"
    if asv_type in ("peakmemory", "memory"):
        return "resource"
    name = metric.lower()
    if any(token in name for token in RESOURCE_TOKENS):
        return "resource"
    if any(token in name for token in TIMING_TOKENS) or name.endswith(LOWER_SUFFIXES):
        return "timing"
    return "deterministic"


def flatten(tree: Dict[str, Any], prefix: Tuple[str, ...] = ()) -> Dict[Tuple[str, ...], float]:
    """``{"a": {"b": {"m": 1}}}`` → ``{("a", "b", "m"): 1.0}`` (numeric leaves only, bools skipped)."""
    out: Dict[Tuple[str, ...], float] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, prefix + (str(key),)))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[prefix + (str(key),)] = float(value)
    return out


def join_path(parts: Sequence[str]) -> str:
    """Join path parts with ``/``."""
    return PATH_SEP.join(parts)


def is_finite(value: Any) -> bool:
    """True for a real, finite number (bools excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def extend_new(target: List[Any], values: Iterable[Any]) -> List[Any]:
    """Append to `target` each of `values` it does not hold yet (by equality, so unhashable parameter
    values work too); return `target`."""
    for value in values:
        if value not in target:
            target.append(value)
    return target


def dedupe(items: Iterable[str]) -> List[str]:
    """Items in first-seen order without duplicates."""
    seen: Dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)
