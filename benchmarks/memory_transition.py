"""Memory transition: accuracy, overhead and importance scoring of tier transitions (category 3).

Grids: ``memory_transition.transition_thresholds`` (the fraction of STM that must leave in a forced
overflow), ``memory_transition.importance_weights`` (the retention score's weights), and the
storage batch sizes / complexities.  Transitions are forced with small tier limits and
``force_memory_maintenance``; automatic maintenance is switched off so nothing moves before that.
LtmTransitionOverhead times the IM→LTM move per LTM backend (``ltm_backend``: the SQLite file, or
PostgreSQL when a server answers).
"""

from __future__ import annotations

import math
from typing import List, Sequence

import numpy as np

from memory import MemoryConfig

from .conventions import metrics
from .lifecycle import CachedBenchmark, SystemBenchmark
from .settings import CONFIG, LTM_BACKENDS, NO_AUTO_CLEANUP, ltm_batches, sorted_unique
from .stats import leaves, rank_correlation
from .systems import fresh_system
from .workloads import test_states

AGENT = "benchmark_agent"
THRESHOLDS = sorted_unique(CONFIG.memory_transition.transition_thresholds)
WEIGHTS = dict(CONFIG.memory_transition.importance_weights)
BATCH_SIZES = sorted_unique(CONFIG.storage.batch_sizes)
LTM_BATCHES = ltm_batches(BATCH_SIZES)
COMPLEXITIES = sorted_unique([CONFIG.storage.data_complexity_levels[0], CONFIG.storage.data_complexity_levels[-1]])
ACCURACY_N = max(100, min(5 * int(CONFIG.storage.num_samples), 1000))
IMPORTANCE_N = 250 if CONFIG.profile == "quick" else 1000
LEVELS = [1, 2, 3, 4, 5]
KEEP = 100  # memories that stay in the source tier in the overhead benchmark
BIG = 10 ** 9


def _within_precision(original: float, stored: float, digits: Sequence[int]) -> bool:
    """True when `stored` is `original` rounded to significant `digits` (applied in turn: IM, then
    LTM; double rounding can move a value by half a unit of each precision) or closer."""
    if original == stored:
        return True
    if not (isinstance(stored, (int, float)) and math.isfinite(stored)) or isinstance(stored, bool):
        return False
    if original == 0:
        return abs(stored) < 1e-300
    exponent = math.floor(math.log10(abs(original)))
    tolerance = sum(0.5 * 10.0 ** (exponent - d + 1) for d in digits)
    return abs(original - stored) <= tolerance * (1 + 1e-9) + 1e-12 * abs(original)


def compare_contents(original: dict, stored: dict, digits: Sequence[int]):
    """(numeric ok, numeric total, categorical ok, categorical total) over the original's leaves."""
    got = dict(leaves(stored))
    num_ok = num_total = cat_ok = cat_total = 0
    for path, value in leaves(original):
        if isinstance(value, float):
            num_total += 1
            other = got.get(path)
            if isinstance(other, (int, float)) and not isinstance(other, bool) and _within_precision(value, float(other), digits):
                num_ok += 1
        else:  # ints, strings, bools, None: must come back exactly
            cat_total += 1
            if path in got and got[path] == value and type(got[path]) is type(value):
                cat_ok += 1
    return num_ok, num_total, cat_ok, cat_total


class TransitionAccuracy(CachedBenchmark):
    """What survives STM→IM and IM→LTM: numeric leaves within the tier's precision, categorical
    leaves exactly, and the cosine between the STM embeddings of original and transitioned content."""

    params = [["im", "ltm"], COMPLEXITIES]
    param_names = ["tier", "complexity"]
    items_per_call = ACCURACY_N

    def setup_cache(self):
        return self.compute_cache()

    def measure(self, tier, complexity):
        n = ACCURACY_N
        # STM keeps a quarter; for "ltm" IM keeps an eighth, so most memories reach LTM via IM.
        limits = {"stm_limit": n // 4, "im_limit": BIG if tier == "im" else max(1, n // 8),
                  "cleanup_interval": NO_AUTO_CLEANUP, "discard_threshold": 0.0}
        states = list(test_states(n, complexity, seed=3))
        with fresh_system("memory", **limits) as system:
            ids = system.store_agent_states(AGENT, states, list(range(n)))
            system.force_memory_maintenance(AGENT)
            if tier == "ltm":
                system.force_memory_maintenance(AGENT)
            got = system.retrieve_states(ids)
            encoder = system.get_encoder("stm")
            digits = _precision(tier)
            num_ok = num_total = cat_ok = cat_total = 0
            originals, moved = [], []
            for state, memory in zip(states, got):
                if memory is None or memory.get("tier") != tier:
                    continue
                a, b, c, d = compare_contents(state, memory["content"], digits)
                num_ok, num_total, cat_ok, cat_total = num_ok + a, num_total + b, cat_ok + c, cat_total + d
                originals.append(state)
                moved.append(memory["content"])
            cosine = float("nan")
            if moved:
                x = np.asarray(encoder.encode_states(originals), dtype=np.float64)
                y = np.asarray(encoder.encode_states(moved), dtype=np.float64)
                den = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
                cosine = float(np.mean(np.sum(x * y, axis=1) / np.where(den > 0, den, 1.0)))
        return {"moved": len(moved) / n,
                "numeric": num_ok / num_total if num_total else float("nan"),
                "categorical": cat_ok / cat_total if cat_total else float("nan"),
                "cosine": cosine}

    @metrics("preservation_rate")
    def track_numeric_within_precision_fraction(self, cache, tier, complexity):
        """Fraction of float leaves equal to the original rounded to the tier's float_precision
        (for LTM: rounded to IM's precision, then to LTM's)."""
        return self.value(cache, (tier, complexity), "numeric")

    track_numeric_within_precision_fraction.unit = "fraction"

    @metrics("preservation_rate")
    def track_categorical_exact_fraction(self, cache, tier, complexity):
        """Fraction of non-float leaves (str, int, bool, None) that came back exactly."""
        return self.value(cache, (tier, complexity), "categorical")

    track_categorical_exact_fraction.unit = "fraction"

    @metrics("avg_similarity")
    def track_embedding_cosine(self, cache, tier, complexity):
        """Mean cosine between STM embeddings of original and transitioned content."""
        return self.value(cache, (tier, complexity), "cosine")

    track_embedding_cosine.unit = "cosine"

    @metrics("total_transitioned")
    def track_transitioned_fraction(self, cache, tier, complexity):
        """Fraction of the stored memories found in the target tier afterwards."""
        return self.value(cache, (tier, complexity), "moved")

    track_transitioned_fraction.unit = "fraction"


def _precision(tier: str) -> List[int]:
    """Significant digits applied on the way into `tier` after STM: IM's; for LTM, IM's then LTM's
    (the suite leaves MemoryConfig's precision defaults alone)."""
    cfg = MemoryConfig()
    im, ltm = int(cfg.im_config.float_precision), int(cfg.ltm_config.float_precision)
    return [im] if tier == "im" else [im, ltm]


class TransitionOverhead(SystemBenchmark):
    """force_memory_maintenance moving batch_size memories one tier down (KEEP stay behind)."""

    params = [BATCH_SIZES, ["stm_to_im", "im_to_ltm"]]
    param_names = ["batch_size", "path"]
    items_per_call = "batch_size"

    def prepare(self, batch_size, path):
        self.overflow(batch_size, path)

    def overflow(self, batch_size, path, **options):
        """A system (options: :meth:`new_system`'s) whose source tier of `path` holds batch_size memories
        over its limit of KEEP."""
        n = KEEP + batch_size
        if path == "stm_to_im":
            limits = {"stm_limit": KEEP, "im_limit": BIG}
            tier = "stm"
        else:
            limits = {"stm_limit": BIG, "im_limit": KEEP}
            tier = "im"
        self.system = self.new_system("memory", cleanup_interval=NO_AUTO_CLEANUP, discard_threshold=0.0,
                                      **limits, **options)
        self.system.store_agent_states(AGENT, test_states(n, 1, seed=5), list(range(n)), tier=tier)
        self.key = path

    @metrics("transition_duration_seconds", "throughput_ops_per_second")
    def time_force_maintenance(self, batch_size, path):
        """One force_memory_maintenance call."""
        self.system.force_memory_maintenance(AGENT)

    @metrics("transition_completeness", kind="deterministic")
    def track_moved_fraction(self, batch_size, path):
        """Memories the maintenance reported moved along the path, over batch_size (expect 1.0)."""
        report = self.system.force_memory_maintenance(AGENT)
        return report.get(self.key, 0) / batch_size

    track_moved_fraction.unit = "fraction"


class LtmTransitionOverhead(TransitionOverhead):
    """force_memory_maintenance moving batch_size memories from IM into LTM (KEEP stay behind), on each
    LTM backend (the SQLite file or PostgreSQL)."""

    params = [LTM_BATCHES, LTM_BACKENDS]
    param_names = ["batch_size", "ltm_backend"]

    def prepare(self, batch_size, ltm_backend):
        self.overflow(batch_size, "im_to_ltm", ltm_backend=ltm_backend)

    @metrics("transition_duration_seconds", "throughput_ops_per_second")
    def time_force_maintenance(self, batch_size, ltm_backend):
        """One force_memory_maintenance call."""
        self.system.force_memory_maintenance(AGENT)

    @metrics("transition_completeness", kind="deterministic")
    def track_moved_fraction(self, batch_size, ltm_backend):
        """Memories the maintenance reported moved from IM into LTM, over batch_size (expect 1.0)."""
        report = self.system.force_memory_maintenance(AGENT)
        return report.get(self.key, 0) / batch_size

    track_moved_fraction.unit = "fraction"


def _importance_run(threshold: float):
    """Store IMPORTANCE_N states with priorities 1..5 interleaved, overflow STM by `threshold` of
    them, force maintenance; return (priorities, retained-in-STM flags, forgotten count)."""
    n = IMPORTANCE_N
    keep = max(1, int(round(n * (1.0 - threshold))))
    with fresh_system("memory", stm_limit=keep, im_limit=BIG, cleanup_interval=NO_AUTO_CLEANUP,
                      importance_weights=WEIGHTS) as system:
        priorities = [float(LEVELS[i % len(LEVELS)]) for i in range(n)]
        ids = system.store_agent_states(AGENT, test_states(n, 1, seed=11), list(range(n)), priorities=priorities)
        report = system.force_memory_maintenance(AGENT)
        retained = [1.0 if system.memory_exists(mid, tier="stm") else 0.0 for mid in ids]
    return priorities, retained, int(report.get("forgotten", 0))


class ImportanceRetention(CachedBenchmark):
    """Retention rate per importance (priority) level after a forced STM overflow."""

    params = [THRESHOLDS, LEVELS]
    param_names = ["threshold", "importance"]
    items_per_call = IMPORTANCE_N

    def setup_cache(self):
        return self.compute_cache()

    def measure_all(self):
        out = {}
        for threshold in THRESHOLDS:
            priorities, retained, _ = _importance_run(threshold)
            for level in LEVELS:
                kept = [r for p, r in zip(priorities, retained) if p == level]
                out[(threshold, level)] = {"rate": sum(kept) / len(kept)}
        return out

    @metrics("retention_rate")
    def track_retention_rate(self, cache, threshold, importance):
        """Fraction of this level's memories still in STM (threshold = fraction that had to leave)."""
        return self.value(cache, (threshold, importance), "rate")

    track_retention_rate.unit = "fraction"


class ImportanceCorrelation(CachedBenchmark):
    """How well retention follows importance after a forced STM overflow."""

    params = [THRESHOLDS]
    param_names = ["threshold"]
    items_per_call = IMPORTANCE_N

    def setup_cache(self):
        return self.compute_cache()

    def measure(self, threshold):
        priorities, retained, forgotten = _importance_run(threshold)
        return {"rho": rank_correlation(priorities, retained), "forgotten": forgotten / len(priorities)}

    @metrics("importance_retention_correlation")
    def track_rank_correlation(self, cache, threshold):
        """Spearman rank correlation of priority and retained-in-STM (1 = perfect prioritisation)."""
        return self.value(cache, (threshold,), "rho")

    track_rank_correlation.unit = "rho"

    @metrics("forgotten_fraction")
    def track_forgotten_fraction(self, cache, threshold):
        """Fraction of all memories forgotten (retention below discard_threshold) by the overflow."""
        return self.value(cache, (threshold,), "forgotten")

    track_forgotten_fraction.unit = "fraction"
