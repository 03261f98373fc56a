"""Subprocess helper: list an asv suite's benchmarks as JSON, with the adapter's naming attributes.

Run as ``python -m memory.benchmarking._discover BENCHMARK_DIR``; it imports the suite the way asv
does (``asv_runner.discovery``), so it sees the same names and params for the current
``AGENTMEMORY_BENCH_CONFIG``. Output: a JSON list on stdout (one dict per asv benchmark).
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from typing import Any, Dict, List

# Attributes the adapter understands, read from the method first, then its class, then its module.
NAMING_ATTRS = ("benchmark_name", "items_per_call", "ops_per_call", "metric_names", "param_keys",
                "higher_is_better", "seed_metrics", "metric_kind", "not_reproducible")
_MISSING = object()


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _attr_sources(bench: Any) -> List[Any]:
    """Where asv reads a benchmark's attributes, in order: ``[method, instance, module]`` of a class's
    benchmark, ``[function, module]`` of a free one (asv's own list, rebuilt from public attributes)."""
    func = bench.func
    if inspect.ismethod(func):
        return [func, func.__self__, sys.modules[type(func.__self__).__module__]]
    return [func, sys.modules[func.__module__]]


def _first_plain(sources: List[Any], attr: str) -> Any:
    """The first value of `attr` along `sources` that is plain JSON (not callable), else _MISSING."""
    for source in sources:
        target = getattr(source, "__func__", source)  # a bound method's attributes live on its function
        value = _plain(getattr(target, attr, _MISSING))
        if value is not _MISSING and not callable(value) and _jsonable(value):
            return value
    return _MISSING


def _naming_attrs(sources: List[Any]) -> Dict[str, Any]:
    """The adapter's naming attributes (NAMING_ATTRS) that `sources` declare, as plain JSON."""
    found = {attr: _first_plain(sources, attr) for attr in NAMING_ATTRS}
    return {attr: value for attr, value in found.items() if value is not _MISSING}


def _describe(bench: Any) -> Dict[str, Any]:
    """One asv benchmark as the adapter reads it: name, type, unit, params, doc, line, naming attributes."""
    sources = _attr_sources(bench)
    func, owner = sources[0], sources[1] if len(sources) > 2 else None
    doc = inspect.getdoc(type(owner)) if owner is not None else inspect.getdoc(func)
    info: Dict[str, Any] = {"name": bench.name, "type": bench.type, "unit": bench.unit, "params": bench.params,
                            "param_names": list(bench.param_names),
                            "doc": (doc or "").strip().split("\n\n")[0].replace("\n", " ")}
    info.update(_naming_attrs(sources))
    # a decorator's __wrapped__ may lead to any callable: not every one has code
    code = getattr(inspect.unwrap(getattr(func, "__func__", func)), "__code__", None)
    info["lineno"] = code.co_firstlineno if code is not None else 0
    return info


def discover(benchmark_dir: str) -> List[Dict[str, Any]]:
    """Import the suite at `benchmark_dir` and describe each benchmark (name, type, unit, params...)."""
    from asv_runner.discovery import disc_benchmarks, update_sys_path

    root = os.path.abspath(benchmark_dir)
    update_sys_path(root)
    return [_describe(bench) for bench in disc_benchmarks(root)]


def main(argv: List[str]) -> int:
    """Print the discovered benchmarks of argv[0] as JSON; exit 1 with the error on stderr."""
    if len(argv) != 1:
        print("usage: python -m memory.benchmarking._discover BENCHMARK_DIR", file=sys.stderr)
        return 2
    try:
        found = discover(argv[0])
    except Exception as exc:  # an import error in the suite: report it, the caller shows one line
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    json.dump(found, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
