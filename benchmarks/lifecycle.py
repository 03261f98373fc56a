"""The base classes of the suite's benchmarks and their lifecycle.

* :class:`Benchmark` -- asv's timing attributes from the profile, the metric convention
  (``items_per_call``, ``ops_per_call``), and the one way to skip: :meth:`Benchmark.skip`;
* :class:`SystemBenchmark` -- timed work on fresh systems: ``setup`` calls :meth:`~SystemBenchmark.prepare`,
  teardown closes every system and removes every temporary file and Redis key it made;
* :class:`CachedBenchmark` -- deterministic quality tracks measured once per run in ``setup_cache``.

Skipping.  A parameter combination a benchmark does not measure is declared by overriding
``skip(self, benchmark, *params)``: it returns why `benchmark` (the method's name) is not measured
for `params`, or None.  It is asked once per class, when the class is created, for every benchmark
method and combination -- from the parameter values and the profile alone (no I/O) -- and the
answers become the methods' asv ``skip_params``, so asv runs neither setup nor the benchmark for
them and records n/a.  The only other skip is the lifecycle's own: a combination whose backend
cannot be used here (no Redis) raises :class:`~benchmarks.backends.BackendUnavailable`, a
``NotImplementedError``, when its system is opened -- asv's way to skip from ``setup`` (a cached
combination not measured becomes the same in :meth:`CachedBenchmark.setup`).  No benchmark raises
``NotImplementedError`` or sets ``skip_params`` itself (the latter is refused at class creation).

Loud failures.  A class with benchmark methods that leaves ``prepare`` (SystemBenchmark) or
``measure``/``measure_all`` (CachedBenchmark) unimplemented, or a CachedBenchmark without its own
``setup_cache``, raises TypeError when it is defined, so asv's discovery fails instead of
skipping or mis-measuring it.

asv's version of a benchmark hashes the source of its method, of every ``setup`` it runs and of
its ``setup_cache``: the text of :meth:`SystemBenchmark.setup` and :meth:`CachedBenchmark.setup` is
part of every benchmark's identity -- editing it restarts every series.
"""

from __future__ import annotations

import abc
import itertools
import sys
import timeit
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .backends import BackendUnavailable
from .settings import TIMING
from .systems import SystemHandle, open_system, release_handle

#: Name prefixes asv collects as benchmark methods.
BENCHMARK_PREFIXES = ("time_", "timeraw_", "track_", "mem_", "peakmem_")


class Benchmark:
    """Base of every benchmark class: asv timing attributes from the profile, the metric convention.

    ``items_per_call`` -- memories (or steps) one call of a ``time_*``/``peakmem_*`` method handles;
    throughput = items_per_call / time.  ``ops_per_call`` -- public-API calls one call makes;
    latency per operation = time / ops_per_call.  Either is an int, the name of a param whose value
    is the count, or a tuple of those multiplied together.
    """

    timer = timeit.default_timer
    repeat = TIMING["repeat"]
    number = TIMING["number"]
    warmup_time = TIMING["warmup_time"]
    rounds = TIMING["rounds"]
    sample_time = TIMING["sample_time"]
    timeout = TIMING["timeout"]
    min_run_count = 1
    items_per_call: Any = 1
    ops_per_call: Any = 1

    #: {benchmark method: {parameter combination: why it is skipped}}, from :meth:`skip`.
    _skip_reasons: Dict[str, Dict[Tuple[Any, ...], str]] = {}

    def skip(self, benchmark: str, *params: Any) -> Optional[str]:
        """Why method `benchmark` is not measured for `params` (None: it is).  Override to declare
        n/a combinations; asked at class creation, it may depend on the parameters and the profile
        only (see the module's docstring)."""
        return None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = benchmark_names(cls)
        if not names:  # a base class: its subclasses hold the benchmarks
            return
        missing = cls.unimplemented()
        if missing:
            raise TypeError(f"{cls.__qualname__} has benchmarks but does not implement {', '.join(missing)}")
        cls._skip_reasons = _declare_skips(cls, names)

    @classmethod
    def unimplemented(cls) -> List[str]:
        """The abstract methods a class with benchmarks still inherits."""
        return sorted(name for name in dir(cls) if getattr(getattr(cls, name), "__isabstractmethod__", False))

    @classmethod
    def combinations(cls) -> List[Tuple[Any, ...]]:
        """Every parameter combination of the class, in asv's order."""
        params = getattr(cls, "params", None) or []
        if params and not isinstance(params[0], (list, tuple)):
            params = [params]
        return list(itertools.product(*params)) if params else [()]


def benchmark_names(cls: type) -> List[str]:
    """The names of `cls`'s attributes asv runs as benchmarks."""
    return sorted(name for name in dir(cls) if name.startswith(BENCHMARK_PREFIXES) and callable(getattr(cls, name)))


def _declare_skips(cls: type, names: Sequence[str]) -> Dict[str, Dict[Tuple[Any, ...], str]]:
    """Ask ``cls().skip`` about every method and combination; set asv's ``skip_params`` of each method
    with a skipped combination; return the reasons."""
    probe = cls()
    reasons: Dict[str, Dict[Tuple[Any, ...], str]] = {}
    for name in names:
        func = vars(cls).get(name)
        if func is None:
            raise TypeError(f"{cls.__qualname__}.{name} is inherited: define each benchmark method in the class "
                            "that runs it (its skip_params are its own)")
        if hasattr(func, "skip_params"):
            raise TypeError(f"{cls.__qualname__}.{name} sets skip_params: declare skipped combinations "
                            "with the class's skip() instead")
        skipped = {}
        for combo in cls.combinations():
            reason = probe.skip(name, *combo)
            if reason:
                skipped[combo] = reason
        if skipped:
            func.skip_params = list(skipped)
        reasons[name] = skipped
    return reasons


class SystemBenchmark(Benchmark):
    """A benchmark whose ``setup`` builds fresh systems and whose ``teardown`` removes them.

    Subclasses implement ``prepare(*params)`` (called by ``setup``; build data and systems there) and
    never define ``setup``/``teardown`` themselves.  If ``prepare`` fails, every system built so far
    is released before the error propagates (asv does not call teardown after a failed setup).
    """

    def setup(self, *params: Any) -> None:
        self._handles: List[Any] = []
        try:
            self.prepare(*params)
        except BaseException:
            self.release()
            raise

    @abc.abstractmethod
    def prepare(self, *params: Any) -> None:
        """Build this combination's data and systems (:meth:`new_system`, :meth:`defer`)."""

    def teardown(self, *params: Any) -> None:
        self.release()

    def release(self) -> None:
        handles, self._handles = self._handles, []
        for handle in reversed(handles):
            if isinstance(handle, SystemHandle):
                release_handle(handle)
            else:
                try:
                    handle()
                except Exception as exc:
                    print(f"agentmemory-asv: cleanup failed: {exc!r}", file=sys.stderr)

    def defer(self, cleanup: Any) -> None:
        """Run `cleanup()` on release (before the systems built earlier are closed)."""
        self._handles.append(cleanup)

    def new_system(self, backend: str = "memory", **options: Any) -> Any:
        """A fresh AgentMemorySystem on `backend`; options: see :func:`open_system`/:func:`make_config`."""
        handle = open_system(backend, **options)
        self._handles.append(handle)
        self.namespace = handle.namespace
        return handle.system


class CachedBenchmark(Benchmark):
    """Quality tracks measured once per run: ``setup_cache`` measures every parameter combination
    (in fresh systems it closes itself) and each ``track_*`` looks its value up.  The values are
    deterministic: seeded data, step-based (not clock-based) retention, no thread timing.

    Subclasses implement ``measure(*params) -> {metric: value}`` (or ``measure_all()`` to share work
    across combinations, e.g. one trained autoencoder) and must define their own one-line
    ``def setup_cache(self): return self.compute_cache()`` -- asv keys caches by source line, so an
    inherited setup_cache would be shared between classes.  A combination :meth:`skip` declares for
    every track of the class is not measured; one whose backend is unavailable is skipped at run time.
    """

    metric_kind = "deterministic"

    @classmethod
    def unimplemented(cls) -> List[str]:
        missing = super().unimplemented()
        if cls.measure_all is not CachedBenchmark.measure_all:  # it measures every combination itself
            missing = [name for name in missing if name != "measure"]
        if "setup_cache" not in vars(cls):
            missing.append("its own setup_cache")
        return missing

    def compute_cache(self) -> Dict[Tuple[Any, ...], Any]:
        """{combination: {metric: value}}, or ``"skipped: <reason>"`` for a combination not measured."""
        cache = self.measure_all()
        cache.update((combo, f"skipped: {reason}") for combo, reason in self.skipped().items())
        return cache

    def skipped(self) -> Dict[Tuple[Any, ...], str]:
        """The combinations :meth:`skip` declares for every track of the class, with a reason."""
        tables = list(self._skip_reasons.values())
        if not tables:
            return {}
        return {combo: reason for combo, reason in tables[0].items() if all(combo in t for t in tables[1:])}

    def measure_all(self) -> Dict[Tuple[Any, ...], Any]:
        out: Dict[Tuple[Any, ...], Any] = {}
        skipped = self.skipped()
        for combo in self.combinations():
            if combo in skipped:
                continue
            try:
                out[combo] = self.measure(*combo)
            except BackendUnavailable as exc:
                out[combo] = f"skipped: {exc}"
        return out

    @abc.abstractmethod
    def measure(self, *params: Any) -> Dict[str, float]:
        """{metric: value} of one combination (unless the class implements ``measure_all``)."""

    def setup(self, cache: Dict[Tuple[Any, ...], Any], *params: Any) -> None:
        entry = cache.get(tuple(params))
        if entry is None or isinstance(entry, str):
            raise NotImplementedError(entry or f"no measurement for {params}")

    @staticmethod
    def value(cache: Dict[Tuple[Any, ...], Any], params: Sequence[Any], metric: str) -> float:
        return float(cache[tuple(params)][metric])
