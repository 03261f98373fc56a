"""The planted changes: what a bad commit could do, as source appended to one file of a scratch clone.
Each PlantedChange names the file it edits, the anchors it relies on (texts that must occur exactly
once there), the block it appends (the injected wrapper sources below: a proportional busy-spin
slowdown of one AgentMemorySystem method, a recall@k drop, LTM records padded by 25 %) and the Rules
saying which asv benchmarks it is built to move, derived by reading benchmarks/*.py. CHANGES holds
the six; apply_change plants one, raising PlantError when an anchor is missing or ambiguous or the
file already holds a planted change, so a refactor can never turn one into a silent no-op."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

MARKER = "gate_trust planted change"


class PlantError(RuntimeError):
    """A planted change cannot be applied (an anchor is missing or ambiguous, or it is applied already)."""


@dataclass(frozen=True)
class Rule:
    """Which measurements a change is built to move: an asv benchmark name (regex, full match) and,
    optionally, parameter values ({path key: value regex}); a key absent from a path matches."""

    asv: str
    params: Tuple[Tuple[str, str], ...] = ()

    def matches(self, asv_name: str, path: str) -> bool:
        """True when `asv_name` fully matches and every declared parameter present in `path` matches."""
        if not re.fullmatch(self.asv, asv_name):
            return False
        parts = [p for p in (path or "").split("/") if p]
        for key, pattern in self.params:
            values = [p[len(key) + 1:] for p in parts if p.startswith(key + "_")]
            if values and not any(re.fullmatch(pattern, v) for v in values):
                return False
        return True


@dataclass(frozen=True)
class PlantedChange:
    """One change a bad commit could make: the file it edits, the anchors it relies on, the source
    block appended to that file, and the measurements it is built to move."""

    name: str
    summary: str
    file: str
    anchors: Tuple[str, ...]
    block: str
    related: Tuple[Rule, ...]
    expect_all: bool = False  # deterministic changes: flagged in every trial (else >= 90 %)

    def bench_regex(self) -> str:
        """One regex of every related asv benchmark (for ``continuous --bench``; asv also matches
        ``name(params)``, hence the optional parenthesis)."""
        return "^(?:" + "|".join(rule.asv for rule in self.related) + r")(\(.*\))?$"

    def is_related(self, asv_name: Optional[str], path: str) -> bool:
        """True when a measurement of `asv_name` at `path` is one this change is built to move."""
        return asv_name is not None and any(rule.matches(asv_name, path) for rule in self.related)


_SLOWDOWN_BLOCK = '''

# ---- {marker} "{name}" (scripts/gate_trust.py; a scratch-clone commit, never merged) ----
import functools as _gt_functools
import time as _gt_time

_gt_clock = _gt_time.perf_counter


def _gt_wrap(method, factor, overhead):
    """`method`, then a busy-spin of `factor` x its own duration, less the wrapper's own cost."""
    @_gt_functools.wraps(method)
    def slowed(*args, **kwargs):
        start = _gt_clock()
        try:
            return method(*args, **kwargs)
        finally:
            end = _gt_clock()
            deadline = end + factor * (end - start) - overhead
            while _gt_clock() < deadline:
                pass
    return slowed


def _gt_wrapper_cost(calls=2000, rounds=7):
    """Seconds the wrapper adds to a call (best of `rounds`), so the slowdown is `factor`, not more."""
    def noop(*args, **kwargs):
        return None
    wrapped = _gt_wrap(noop, 0.0, 0.0)
    bare = wrap = float("inf")
    for _ in range(rounds):
        t0 = _gt_clock()
        for _ in range(calls):
            noop(1, 2)
        t1 = _gt_clock()
        for _ in range(calls):
            wrapped(1, 2)
        t2 = _gt_clock()
        bare, wrap = min(bare, t1 - t0), min(wrap, t2 - t1)
    return max(0.0, (wrap - bare) / calls)


if not callable(getattr(AgentMemorySystem, "{method}", None)):
    raise RuntimeError("gate_trust: AgentMemorySystem.{method} is gone; the planted change cannot apply")
AgentMemorySystem.{method} = _gt_wrap(AgentMemorySystem.{method}, {factor}, _gt_wrapper_cost())
'''

_RECALL_BLOCK = '''

# ---- {marker} "recall" (scripts/gate_trust.py; a scratch-clone commit, never merged) ----
import functools as _gt_functools


def _gt_recall_drop(method):
    """For k >= 10: the k-th best hit replaced by the (k+1)-th, so recall@k against exact drops by 1/k."""
    @_gt_functools.wraps(method)
    def dropped(self, agent_id, query_state, k=5, *args, **kwargs):
        if type(k) is not int or k < 10:
            return method(self, agent_id, query_state, k, *args, **kwargs)
        hits = method(self, agent_id, query_state, k + 1, *args, **kwargs)
        if len(hits) <= k:  # fewer than k+1 candidates: nothing to swap in
            return hits
        return hits[:k - 1] + [hits[k]]
    return dropped


if not callable(getattr(AgentMemorySystem, "retrieve_similar_states", None)):
    raise RuntimeError("gate_trust: AgentMemorySystem.retrieve_similar_states is gone; cannot plant recall")
AgentMemorySystem.retrieve_similar_states = _gt_recall_drop(AgentMemorySystem.retrieve_similar_states)
'''

_LTM_BLOCK = '''

# ---- {marker} "ltm_record" (scripts/gate_trust.py; a scratch-clone commit, never merged) ----
def _gt_padded(encode):
    """The compressed (LTM) codec's bytes plus 25 % zero bytes after the deflate stream: decode stops
    at the stream's end (the rest is zlib's unused_data), so content reads back unchanged."""
    def padded(self, content):
        data = encode(self, content)
        if self.compress_level is None:  # IM's codec (JSON, uncompressed) is left alone
            return data
        return data + bytes((len(data) + 2) // 4)
    return padded


if not hasattr(RoundingCodec, "encode"):
    raise RuntimeError("gate_trust: RoundingCodec.encode is gone; cannot plant ltm_record")
RoundingCodec.encode = _gt_padded(RoundingCodec.encode)
'''


def _slowdown(name: str, method: str, related: Tuple[Rule, ...]) -> PlantedChange:
    """A change making AgentMemorySystem.<method> 25 % slower at any input size."""
    block = _SLOWDOWN_BLOCK.format(marker=MARKER, name=name, method=method, factor=0.25)
    return PlantedChange(name, f"AgentMemorySystem.{method} 25 % slower (proportional busy-spin)",
                         "memory/system.py", ("class AgentMemorySystem:", f"    def {method}(self,"),
                         block, related)


# Related benchmarks, from reading benchmarks/*.py: the asv benchmarks whose TIMED body (time_*,
# or the clock inside a track_*) calls the slowed method, on the parameter values that take that
# path. Not related: setup code (prepare/setup_cache is not timed; SearchRecall and SearchPrecision
# search inside setup_cache), peakmem_* (a busy-spin allocates nothing), and parameter values that
# take another path (ReadLatency batch_size > 1 calls retrieve_states; HookOverhead mode "none",
# CartPoleLoop/MesaModelLoop memory "off" have no memory system).

# Used by every scalability workload (agent_workload / agent_round: 10 stores, 5 reads, 3 searches; in
# SharedDeploymentScaling run by worker processes forked from the benchmark, so slowed as well) and the
# integration loops that store and search every step.
_WORKLOAD = (Rule(r"scalability\.AgentCountScaling\.(time_agent_workload|track_scaling_efficiency)"),
             Rule(r"scalability\.ResourceUse\.track_cpu_seconds_per_1000_ops"),
             Rule(r"scalability\.SharedDeploymentScaling\.time_shared_workload"))
_AGENT_LOOPS = (Rule(r"integration\.CartPoleLoop\.time_steps", (("memory", "on"),)),
                Rule(r"integration\.CartPoleOverheadPercent\.track_overhead_percent"),
                Rule(r"integration\.MesaModelLoop\.time_model_steps", (("memory", "on"),)),
                Rule(r"integration\.MesaOverheadPercent\.track_overhead_percent"))


def _api(operation: str) -> Tuple[Rule, ...]:
    """integration.ApiOverhead(+Percent) for one operation (store | read | search): direct and via MemoryAPI."""
    return (Rule(r"integration\.ApiOverhead\.time_operations", (("operation", operation),)),
            Rule(r"integration\.ApiOverheadPercent\.track_overhead_percent", (("operation", operation),)))


STORE_SINGLE_RULES = (
    Rule(r"storage\.WriteThroughput\.time_store_loop"),       # the seed's loop of store_agent_state
    Rule(r"storage\.TierWriteThroughput\.time_store_loop"),   # store_agent_state(..., tier=im|ltm)
    Rule(r"storage\.LtmWriteThroughput\.time_store_loop"),    # store_agent_state(..., tier="ltm"), per LTM backend
    *_api("store"),
    Rule(r"integration\.ConcurrentClients\.time_concurrent_clients"),  # MemoryAPI.store_agent_state
    Rule(r"integration\.HookOverhead\.time_agent_steps", (("mode", "manual|hooks"),)),  # observe() stores
    Rule(r"integration\.HookOverheadPercent\.track_overhead_percent"),
    *_AGENT_LOOPS,
    *_WORKLOAD,
    Rule(r"scalability\.MemorySizeScaling\.time_operation", (("operation", "store"),)),
)
# The only timed store_agent_states calls (everything else loads in setup), and one set-up that moves
# its timing: ReadLatency stores its read pool with store_agent_states before every sample, and after
# the planted spin the batch-1 reads (retrieve_state) from in-memory STM and IM run slower. Measured
# 2026-12-04 under load (load 3-4), the planted build against the base in 6 process pairs: STM
# +13.4 % (6 of 6 process pairs slower), IM +8.0 % and +10.2 % (6/6, 5/6); the same wrapper without
# the spin -2.6 % (2/6); LTM -4.8 % (1/6), Redis IM -2.1 % (3/6), Redis STM +7.8 % (3/6), batch 10
# and 100 not slower. Two trials confirmed IM +11.6 % and +13.2 %: a true effect, counted related.
STORE_BATCH_RULES = (
    Rule(r"storage\.WriteThroughput\.time_store_batch"),
    Rule(r"storage\.TierWriteThroughput\.time_store_batch"),
    Rule(r"storage\.LtmWriteThroughput\.time_store_batch"),
    Rule(r"storage\.ReadLatency\.time_read", (("batch", "1"), ("backend", "memory"), ("tier", "stm|im"))),
)
RETRIEVE_RULES = (
    Rule(r"storage\.ReadLatency\.time_read", (("batch", "1"),)),  # batch_size 1: retrieve_state
    Rule(r"storage\.ReadLatencyP95\.track_p95_latency_ms", (("batch", "1"),)),
    Rule(r"storage\.LtmReadLatency\.time_read", (("batch", "1"),)),
    *_api("read"),
    Rule(r"integration\.ConcurrentClients\.time_concurrent_clients"),  # reads back what it stored
    *_WORKLOAD,
    Rule(r"scalability\.MemorySizeScaling\.time_operation", (("operation", "read"),)),
)
SEARCH_RULES = (
    Rule(r"retrieval\.SimilaritySearchLatency\.time_search"),
    Rule(r"retrieval\.LtmSimilaritySearchLatency\.time_search"),
    Rule(r"retrieval\.SimilaritySearchP95\.track_p95_latency_ms"),
    Rule(r"retrieval\.SearchLatencyByDimension\.time_search"),
    *_api("search"),
    *_AGENT_LOOPS,
    *_WORKLOAD,
    Rule(r"scalability\.MemorySizeScaling\.time_operation", (("operation", "search"),)),
)
# Recall: the only k >= 10 searches are in retrieval.py (K = 10); integration and scalability use
# k = 3 or 5, which the change leaves alone. SearchRecall k=1 is untouched. SearchPrecision's
# thresholded k=10 hits swap their 10th for the 11th, which moves precision; hits_per_query cannot
# change (still min(10, hits above the threshold)), so it stays unrelated. The k=10 latency
# benchmarks really do more work: they fetch, decode and return one more hit (11 of 10), which on
# small volumes is a measurable share of a search (a trial confirmed +18 % at IM volume 500), so a
# latency flag is a true effect of this change, counted related.
RECALL_RULES = (
    Rule(r"retrieval\.SearchRecall\.track_recall", (("k", "10"),)),
    Rule(r"retrieval\.SearchPrecision\.track_precision"),
    Rule(r"retrieval\.SimilaritySearchLatency\.time_search"),
    Rule(r"retrieval\.LtmSimilaritySearchLatency\.time_search"),
    Rule(r"retrieval\.SimilaritySearchP95\.track_p95_latency_ms"),
    Rule(r"retrieval\.SearchLatencyByDimension\.time_search"),
)
# LTM records as stored: the size metrics of the LTM tier (and the ratios built from them). IM and
# STM sizes, raw bytes and everything read back (TransitionAccuracy) must not move. LTM write
# timings run one more bytes concatenation per record (well under any threshold): unrelated.
LTM_RULES = (
    Rule(r"storage\.MemoryEfficiency\.track_(stored_bytes_per_memory|tier_bytes|memories_per_mb)",
         (("tier", "ltm"),)),
    Rule(r"compression\.CompressionRatio\.track_compression_ratio", (("tier", "ltm"),)),
    Rule(r"compression\.TierToTierRatio\.track_size_ratio", (("pair", "ltm_to_.*"),)),
)

CHANGES: Dict[str, PlantedChange] = {c.name: c for c in (
    _slowdown("store_single", "store_agent_state", STORE_SINGLE_RULES),
    _slowdown("store_batch", "store_agent_states", STORE_BATCH_RULES),
    _slowdown("retrieve", "retrieve_state", RETRIEVE_RULES),
    _slowdown("search", "retrieve_similar_states", SEARCH_RULES),
    PlantedChange("recall", "retrieve_similar_states recall@k drops 10 % for k >= 10 (k-th hit -> (k+1)-th)",
                  "memory/system.py", ("class AgentMemorySystem:", "    def retrieve_similar_states(self,"),
                  _RECALL_BLOCK.format(marker=MARKER), RECALL_RULES, expect_all=True),
    PlantedChange("ltm_record", "LTM records 25 % larger as stored (zero padding after the deflate stream)",
                  "memory/embeddings/codec.py",
                  ("class RoundingCodec(Codec):", "        self.compress_level = compress_level\n"),
                  _LTM_BLOCK.format(marker=MARKER), LTM_RULES, expect_all=True),
)}


def check_anchors(path: Path, change: PlantedChange) -> str:
    """The file's text, after checking every anchor occurs exactly once and the change is not applied yet."""
    if not path.is_file():
        raise PlantError(f"planted change {change.name!r}: {change.file} not found in {path.parent}")
    text = path.read_text(encoding="utf-8")
    if MARKER in text:
        raise PlantError(f"planted change {change.name!r}: {change.file} already holds a planted change")
    for anchor in change.anchors:
        count = text.count(anchor)
        if count != 1:
            raise PlantError(f"planted change {change.name!r}: anchor {anchor.strip()!r} occurs {count} times "
                             f"in {change.file} (expected once); update CHANGES in tools/gate_trust/planted.py")
    return text


def apply_change(tree: Path, change: PlantedChange) -> Path:
    """Append the change's block to its file in the checkout `tree`; returns the edited file."""
    path = Path(tree) / change.file
    text = check_anchors(path, change)
    path.write_text(text.rstrip("\n") + "\n" + change.block, encoding="utf-8")
    return path
