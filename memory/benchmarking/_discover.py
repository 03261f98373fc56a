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
                "higher_is_better", "seed_metrics", "metric_kind")


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


def discover(benchmark_dir: str) -> List[Dict[str, Any]]:
    """Import the suite at `benchmark_dir` and describe each benchmark (name, type, unit, params...)."""
    from asv_runner._aux import update_sys_path
    from asv_runner.discovery import disc_benchmarks

    root = os.path.abspath(benchmark_dir)
    update_sys_path(root)
    out: List[Dict[str, Any]] = []
    for bench in disc_benchmarks(root):
        sources = list(getattr(bench, "_attr_sources", []))
        info: Dict[str, Any] = {
            "name": bench.name,
            "type": getattr(bench, "type", ""),
            "unit": getattr(bench, "unit", ""),
            "params": getattr(bench, "params", []),
            "param_names": list(getattr(bench, "param_names", [])),
        }
        func = sources[0] if sources else None
        owner = sources[1] if len(sources) > 2 else None
        doc = inspect.getdoc(type(owner)) if owner is not None else inspect.getdoc(func)
        info["doc"] = (doc or "").strip().split("\n\n")[0].replace("\n", " ")
        for attr in NAMING_ATTRS:
            for source in sources:
                target = getattr(source, "__func__", source)
                if hasattr(target, attr):
                    value = _plain(getattr(target, attr))
                    if not callable(value) and _jsonable(value):
                        info[attr] = value
                        break
        code = getattr(inspect.unwrap(getattr(func, "__func__", func)), "__code__", None)
        info["lineno"] = code.co_firstlineno if code is not None else 0
        out.append(info)
    return out


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
