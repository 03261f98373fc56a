"""The metric catalogue: the machine-readable form of benchmarks/README.md.

``python benchmarks/common.py --catalog`` prints it as JSON (run it with the environment of the asv
run: the grids come from the same configuration); without ``--catalog`` it prints the profile, its
timing attributes and the configuration.
"""

from __future__ import annotations

import importlib
import inspect
import json
from typing import Any, Dict, List

from .conventions import metric_kind_of, not_reproducible_of, parallel_of
from .lifecycle import Benchmark, benchmark_names
from .settings import CONFIG, PROFILE, TIMING

#: The suite's benchmark modules: the seed's six categories, then the opt-in implementations.
MODULES = ("storage", "compression", "memory_transition", "retrieval", "scalability", "integration",
           "implementations")


def metric_catalog() -> Dict[str, Dict[str, Any]]:
    """Every benchmark of the suite: ``{asv name: {type, unit, metric_kind, params, param_names,
    items_per_call, ops_per_call, seed_metrics, doc, skip_params, not_reproducible, parallel}}``
    (``not_reproducible``: {param: values} where a deterministic metric is judged on the threshold;
    ``parallel``: its timed body runs threads or processes, measured on every core when confirmed).

    ``seed_metrics`` name what the adapter derives from the benchmark's value (see README):
    a ``time_*`` value is seconds per call; throughput_ops_per_second = items_per_call / value,
    total_time_seconds = value, items_processed = items_per_call, latency = value / ops_per_call.
    """
    catalog: Dict[str, Dict[str, Any]] = {}
    for module_name in MODULES:
        module = importlib.import_module(f"{__package__}.{module_name}")
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__ or not issubclass(cls, Benchmark):
                continue
            for attr in benchmark_names(cls):
                kind = attr.split("_", 1)[0]
                method = getattr(cls, attr)
                unit = getattr(method, "unit", {"time": "seconds", "peakmem": "bytes"}.get(kind, "unit"))
                catalog[f"{module_name}.{cls_name}.{attr}"] = {
                    "type": kind, "unit": unit, "metric_kind": metric_kind_of(cls, attr),
                    "params": [list(p) for p in getattr(cls, "params", None) or []],
                    "param_names": list(getattr(cls, "param_names", [])),
                    "items_per_call": _jsonable(getattr(method, "items_per_call", cls.items_per_call)),
                    "ops_per_call": _jsonable(getattr(method, "ops_per_call", cls.ops_per_call)),
                    "seed_metrics": list(getattr(method, "seed_metrics", ())),
                    "doc": (inspect.getdoc(method) or inspect.getdoc(cls) or "").split("\n")[0],
                    # the combinations the class's skip() declares (asv's skip_params; n/a)
                    "skip_params": [list(combo) for combo in getattr(method, "skip_params", ())],
                    "not_reproducible": _jsonable(not_reproducible_of(cls, attr)),
                    "parallel": parallel_of(cls, attr),
                }
    return catalog


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def main(argv: List[str]) -> int:
    if "--catalog" in argv:
        print(json.dumps(metric_catalog(), indent=2, sort_keys=True))
    else:
        print(f"profile={PROFILE} timing={TIMING}")
        print(json.dumps(CONFIG.to_dict(), indent=2))
    return 0
