"""The metric convention of the suite's benchmark methods (benchmarks/README.md, "Conventions").

* ``items_per_call`` / ``ops_per_call`` (class or method attributes): memories (or steps) one call
  handles and public-API calls it makes -- an int, the name of a param whose value is the count,
  or a tuple of those multiplied together (:func:`count_for`);
* ``metric_kind``: "timing", "deterministic" or "resource" (:data:`METRIC_KINDS`,
  :func:`metric_kind_of`);
* :func:`metrics` -- the seed metric names a method yields, and its per-method counts and kind;
* ``not_reproducible`` (a method's attribute, else its class's; :func:`not_reproducible_at`,
  :func:`not_reproducible_of`) -- the parameter values at which a "deterministic" metric is not the
  same in every build, so it is judged on the threshold (as a "resource") there;
* :func:`sampled` -- a timing-like ``track_*`` measured as several samples asv treats like a timing;
* ``parallel = True`` (class or method attribute) -- the timed body runs on several threads or
  processes, so the confirmation pass of ``cli continuous`` leaves its processes on every CPU core
  instead of pinning each pair to one (:mod:`memory.benchmarking.paired`).
"""

from __future__ import annotations

import functools
import math
import os
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

from .settings import TIMING

#: Overrides the profile's ``track_samples`` (memory.benchmarking.config.TRACK_SAMPLES_ENV; spelled out
#: here because the suite runs against every commit's build, and older builds lack the name).
TRACK_SAMPLES_ENV = "AGENTMEMORY_BENCH_TRACK_SAMPLES"

#: What a benchmark's value is (its ``metric_kind``): "timing" -- varies run to run, judged on its
#: samples; "deterministic" -- the same in every run and process, any change is real; "resource" --
#: bytes of memory (``peakmem_*``).  time_* are timing and peakmem_* resource by type; every track_
#: declares its kind (:func:`sampled`, ``@metrics(..., kind=...)``, or its class's attribute).
METRIC_KINDS = ("timing", "deterministic", "resource")


def metric_kind_of(cls: type, attr: str) -> Optional[str]:
    """The ``metric_kind`` of benchmark `attr` of `cls`: the method's, else the class's, else by type
    (time_* "timing", peakmem_* "resource"); None for a track_ that declares none."""
    declared = getattr(getattr(cls, attr), "metric_kind", None) or getattr(cls, "metric_kind", None)
    return declared or {"time": "timing", "peakmem": "resource"}.get(attr.split("_", 1)[0])


def not_reproducible_at(**values: Iterable[Any]) -> Dict[str, List[Any]]:
    """A ``not_reproducible`` declaration: {param name: its values at which the benchmark's deterministic
    metric differs between builds of the same data}; a combination holding any of them is judged on the
    threshold instead of exactly (the adapter's ``metadata.metric_kind_overrides``). Empty lists are left out."""
    declared = {name: list(listed) for name, listed in values.items()}
    return {name: listed for name, listed in declared.items() if listed}


def not_reproducible_of(cls: type, attr: str) -> Dict[str, List[Any]]:
    """The ``not_reproducible`` declaration of benchmark `attr` of `cls`: the method's, else the class's,
    else {} (exactly reproducible everywhere)."""
    declared = getattr(getattr(cls, attr), "not_reproducible", None) or getattr(cls, "not_reproducible", None)
    return dict(declared or {})


def parallel_of(cls: type, attr: str) -> bool:
    """The ``parallel`` declaration of benchmark `attr` of `cls` (the method's, else the class's): its
    timed body runs on several threads or processes."""
    method = getattr(cls, attr)
    return bool(method.parallel if hasattr(method, "parallel") else getattr(cls, "parallel", False))


def count_for(spec: Any, param_names: Sequence[str], params: Sequence[Any]) -> float:
    """Evaluate an ``items_per_call``/``ops_per_call`` spec for one parameter combination."""
    if isinstance(spec, (list, tuple)):
        out = 1.0
        for part in spec:
            out *= count_for(part, param_names, params)
        return out
    if isinstance(spec, str):
        value = params[list(param_names).index(spec)]
        return float(value)
    return float(spec)


def metrics(*names: str, items_per_call: Any = None, ops_per_call: Any = None, kind: Optional[str] = None):
    """Decorator: the seed metric names a benchmark method yields (recorded in the catalogue), and
    optionally per-method ``items_per_call``/``ops_per_call`` overriding the class's and its
    ``metric_kind`` (one of METRIC_KINDS; e.g. ``kind="deterministic"`` for a count or fraction)."""
    if kind is not None and kind not in METRIC_KINDS:
        raise ValueError(f"metric kind must be one of {METRIC_KINDS}; got {kind!r}")

    def mark(func):
        func.seed_metrics = names
        if items_per_call is not None:
            func.items_per_call = items_per_call
        if ops_per_call is not None:
            func.ops_per_call = ops_per_call
        if kind is not None:
            if getattr(func, "metric_kind", kind) != kind:
                raise ValueError(f"{func.__name__} is already a {func.metric_kind} metric, not {kind}")
            func.metric_kind = kind
        return func
    return mark


def samples_per_track() -> int:
    """Samples a :func:`sampled` track takes per call: the profile's ``track_samples``, or
    $AGENTMEMORY_BENCH_TRACK_SAMPLES where the confirmation pass of ``cli continuous`` sets it (there
    one call is one block of a block pair, and fewer samples make it cheaper)."""
    override = os.environ.get(TRACK_SAMPLES_ENV, "").strip()
    return max(1, int(override)) if override.isdigit() else max(1, int(TIMING.get("track_samples", 5)))


def sampled(func: Callable[..., float]) -> Callable[..., Dict[str, Any]]:
    """Decorator for a timing-like ``track_*``: the body measures ONE sample (a float) and is called
    :func:`samples_per_track` times; asv gets ``{"samples": [...], "number": 1}``, which it treats like a
    timing (median as the value, quartiles and confidence interval; samples appended across rounds)."""
    if getattr(func, "metric_kind", "timing") != "timing":
        raise ValueError(f"{func.__name__} is declared {func.metric_kind}; a sampled track is a timing")

    @functools.wraps(func)
    def sample_track(self, *params):
        samples = []
        for _ in range(samples_per_track()):
            value = float(func(self, *params))
            if not math.isfinite(value):
                raise ValueError(f"{func.__name__}{params}: non-finite sample {value!r}")
            samples.append(value)
        return {"samples": samples, "number": 1}

    sample_track.metric_kind = "timing"
    return sample_track
