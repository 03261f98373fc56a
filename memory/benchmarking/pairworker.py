"""The benchmark process of the paired confirmation pass (:mod:`memory.benchmarking.paired`).

Run by file path with an asv environment's interpreter (``python pairworker.py BENCHMARK_DIR [CORES]``,
CORES e.g. ``0`` or ``0,1``: it pins itself to them first of all), with
one commit's build first on ``PYTHONPATH``; it must therefore import only the standard library and
asv_runner, never this package (the commit under test may predate this file). It reads one JSON
request per line on stdin and answers one JSON line each on its original stdout; whatever the
benchmarks print goes to stderr.

Requests: ``{"op": "load", "name": asv name, "params": [asv param reprs], "attributes": {...}}``
(discover, set up; answers ``{"skipped": bool, "type": "time"|"track"|..., "parallel": bool}``, where
``parallel`` is the benchmark's own ``parallel`` attribute, method's else class's, the way asv reads
``timeout``: True when its timed body runs on several threads or processes; with ``"pinned": true``
such a benchmark is not set up), ``{"op": "run", "number": n}`` (one
sample the way asv takes it: setup redone after the first, then one timed batch of `number` calls —
the benchmark's own when omitted;
answers ``{"value": seconds per call or the track's median, "number": n}``), ``{"op": "close"}``.
Any failure answers ``{"error": "one line"}``.
"""

import gc
import itertools
import json
import os
import statistics
import sys


def _one_line(exc):
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _parallel(bench):
    """The benchmark's ``parallel`` declaration: its method's attribute, else its class's (asv's order)."""
    for source in (bench.func, getattr(bench.func, "__self__", None)):
        if source is not None and hasattr(source, "parallel"):
            return bool(source.parallel)
    return False


class _Worker:
    def __init__(self, root):
        self.root = root
        self.bench = None

    def load(self, name, params, attributes, pinned=False):
        from asv_runner.discovery import get_benchmark_from_name

        self.close()
        bench = get_benchmark_from_name(self.root, name, extra_params=dict(attributes or {}))
        if params:
            wanted = [str(p) for p in params]
            combos = [list(c) for c in itertools.product(*bench.params)]
            if wanted not in combos:
                raise ValueError(f"{name} has no parameter combination {wanted}")
            bench.set_param_idx(combos.index(wanted))
        if pinned and _parallel(bench):  # it needs every core: not set up here, where it cannot run
            return {"skipped": False, "type": bench.type, "parallel": True}
        cache = bench.do_setup_cache()
        if cache is not None:
            bench.set_cache(cache)
        skipped = bool(bench.do_setup())
        self.bench = None if skipped else bench
        return {"skipped": skipped, "type": bench.type, "parallel": _parallel(bench)}

    def run(self, number=None):
        if self.bench is None:
            raise RuntimeError("no benchmark loaded (or it was skipped)")
        if number is not None:  # a time benchmark's calls per sample, as the other commit calibrated it
            self.bench.number = int(number)
        result = self.bench.do_run()
        if isinstance(result, dict):  # a time benchmark, or a sampled track: {"samples": [...], "number": n}
            samples = [float(s) for s in result.get("samples") or ()]
            if not samples:
                raise RuntimeError("the benchmark returned no samples")
            return {"value": statistics.median(samples), "number": result.get("number")}
        return {"value": float(result), "number": None}

    def close(self):
        if self.bench is not None:
            bench, self.bench = self.bench, None
            bench.do_teardown()
        gc.collect()
        return {}


def main(argv):
    if len(argv) > 2 and argv[2]:  # the CPU cores to run on, before anything is imported or allocated
        os.sched_setaffinity(0, {int(core) for core in argv[2].split(",")})
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the benchmarks' prints (asv's "skipped" line too) go to stderr
    sys.stdout = sys.stderr
    worker = _Worker(os.path.abspath(argv[1]))
    for line in sys.stdin:
        request = {}
        try:
            request = json.loads(line)
            op = request.get("op")
            if op == "load":
                reply = worker.load(request["name"], request.get("params") or [], request.get("attributes"),
                                    bool(request.get("pinned")))
            elif op == "run":
                reply = worker.run(request.get("number"))
            elif op == "close":
                reply = worker.close()
            else:
                raise ValueError(f"unknown request {op!r}")
        except Exception as exc:  # every failure is an answer, never a dead pipe
            reply = {"error": _one_line(exc)}
        protocol.write(json.dumps(reply) + "\n")
        if request.get("op") == "close" and request.get("exit"):
            break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
