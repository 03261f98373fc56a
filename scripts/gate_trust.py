#!/usr/bin/env python3
"""How far can the regression gate be trusted?  Re-measure its false-alarm and detection rates.

Method
------
A gate is only useful if it stays quiet when nothing changed and speaks when something did. This
harness measures both on the real CLI, the way a team would use it:

* **A/A, sequential** (``aa-sequential``): ``cli run`` N+1 times on the current checkout, then
  ``cli compare --json`` of each run against the one before it. Same code on both sides, so every
  exit 2 is a false alarm.
* **A/A, continuous** (``aa-continuous``): a scratch clone gets an EMPTY commit on top of HEAD (the
  same tree under a second hash) and ``cli continuous HEAD~1 HEAD`` runs N times: asv builds both
  commits and runs them interleaved, so every exit 2 is again a false alarm.
* **Planted changes** (``planted --change NAME``): a scratch clone gets one commit that makes a known
  change, as a bad commit would (a 25 % slowdown of one API method, a 10 % recall drop, LTM records
  25 % larger), and ``cli continuous <base> <planted>`` runs N times. A trial DETECTS the change when
  it exits 2 and at least one RELATED measurement is a regression. RELATED means the measurement's
  asv benchmark is one the change is built to move (it times the slowed method, or computes the
  recall / LTM sizes); each change declares them below (``Rule``), derived by reading benchmarks/*.py.
  Any other flagged measurement is UNRELATED: a false alarm during a real change.

A slowdown is proportional, so it is 25 % at any input size: the public method is wrapped, the real
call timed with perf_counter, then a busy-spin of 0.25 x that duration (less the wrapper's own cost,
calibrated at import) follows. The recall drop asks for k+1 hits and returns hits[:k-1] + [hits[k]]
for k >= 10. The LTM change appends round(len/4) zero bytes after each record's deflate stream.

The gate runs as ``python -P -m memory.benchmarking.cli`` with the clone as cwd: -P keeps the clone
off sys.path, so the CLI is this checkout's installed code while asv builds and measures the clone's
commits (``AGENTMEMORY_ASV_CONFIG`` points at the clone's asv.conf.json).

Every planted change is an append-only edit of one source file in the clone, guarded by anchors
(texts that must occur exactly once): a missing anchor raises ``PlantError`` naming the file and the
text, so a refactor can never turn a planted change into a silent no-op. ``verify`` measures each
change directly (no CLI, no asv): it imports the unpatched and the patched ``memory`` package side by
side in one process and reports the time ratio, recall, and LTM bytes.

Outputs: a progress line per trial, a table at the end, and a JSON summary (rewritten after every
trial) at ``<work-dir>/gate_trust_<mode>_<timestamp>.json``. The scratch clone lives in
``<work-dir>/clone`` and is removed at the end unless ``--keep`` (a kept clone is reused by the next
run with the same ``--work-dir``, asv environments included). ``--dry-run`` prints the commands.

Stdlib only (``verify`` imports the clone's ``memory`` package, which needs numpy).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import importlib.util
import json
import math
import os
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

REPO_ROOT = Path(__file__).resolve().parent.parent
CLI_MODULE = "memory.benchmarking.cli"
ASV_CONFIG_ENV = "AGENTMEMORY_ASV_CONFIG"
BRANCH_PREFIX = "gate-trust/"
MARKER = "gate_trust planted change"
GIT_IDENTITY = ("-c", "user.name=gate-trust", "-c", "user.email=gate-trust@localhost")
EXIT_OK, EXIT_ERROR, EXIT_REGRESSION = 0, 1, 2
FLAG_STATUSES = ("regression", "improvement")


class PlantError(RuntimeError):
    """A planted change cannot be applied (an anchor is missing or ambiguous, or it is applied already)."""


class HarnessError(RuntimeError):
    """The harness cannot go on (git failed, the CLI would import the wrong code, bad arguments)."""


# ---- planted changes ---------------------------------------------------------------------------

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

# Used by every scalability workload (agent_workload: 10 stores, 5 reads, 3 searches) and the
# integration loops that store and search every step.
_WORKLOAD = (Rule(r"scalability\.AgentCountScaling\.(time_agent_workload|track_scaling_efficiency)"),
             Rule(r"scalability\.ResourceUse\.track_cpu_seconds_per_1000_ops"))
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
    *_api("store"),
    Rule(r"integration\.ConcurrentClients\.time_concurrent_clients"),  # MemoryAPI.store_agent_state
    Rule(r"integration\.HookOverhead\.time_agent_steps", (("mode", "manual|hooks"),)),  # observe() stores
    Rule(r"integration\.HookOverheadPercent\.track_overhead_percent"),
    *_AGENT_LOOPS,
    *_WORKLOAD,
    Rule(r"scalability\.MemorySizeScaling\.time_operation", (("operation", "store"),)),
)
STORE_BATCH_RULES = (  # the only timed store_agent_states calls (everything else loads in setup)
    Rule(r"storage\.WriteThroughput\.time_store_batch"),
    Rule(r"storage\.TierWriteThroughput\.time_store_batch"),
)
RETRIEVE_RULES = (
    Rule(r"storage\.ReadLatency\.time_read", (("batch", "1"),)),  # batch_size 1: retrieve_state
    Rule(r"storage\.ReadLatencyP95\.track_p95_latency_ms", (("batch", "1"),)),
    *_api("read"),
    Rule(r"integration\.ConcurrentClients\.time_concurrent_clients"),  # reads back what it stored
    *_WORKLOAD,
    Rule(r"scalability\.MemorySizeScaling\.time_operation", (("operation", "read"),)),
)
SEARCH_RULES = (
    Rule(r"retrieval\.SimilaritySearchLatency\.time_search"),
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
# benchmarks fetch one more hit (a few %, under any threshold): a flag there is reported unrelated.
RECALL_RULES = (
    Rule(r"retrieval\.SearchRecall\.track_recall", (("k", "10"),)),
    Rule(r"retrieval\.SearchPrecision\.track_precision"),
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
                             f"in {change.file} (expected once); update CHANGES in scripts/gate_trust.py")
    return text


def apply_change(tree: Path, change: PlantedChange) -> Path:
    """Append the change's block to its file in the checkout `tree`; returns the edited file."""
    path = Path(tree) / change.file
    text = check_anchors(path, change)
    path.write_text(text.rstrip("\n") + "\n" + change.block, encoding="utf-8")
    return path


# ---- commands and processes --------------------------------------------------------------------

@dataclass
class Shell:
    """Runs (or, dry, prints) commands; every run's output goes to a log file."""

    dry_run: bool = False
    echo: Callable[[str], None] = print

    def show(self, cmd: Sequence[str], cwd: Optional[Path] = None, env: Optional[Mapping[str, str]] = None) -> str:
        """The command as a copy-pasteable line: ``(cd D && VAR=v cmd ...)``."""
        line = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        line = (line + " " if line else "") + shlex.join([str(c) for c in cmd])
        return f"(cd {shlex.quote(str(cwd))} && {line})" if cwd else line

    def note(self, text: str) -> None:
        """A comment line in a dry run (what the harness would do that is not a command)."""
        if self.dry_run:
            self.echo(f"# {text}")

    def run(self, cmd: Sequence[str], cwd: Optional[Path] = None, env: Optional[Mapping[str, str]] = None,
            log: Optional[Path] = None) -> Tuple[int, float]:
        """(exit code, wall seconds) of `cmd` with `env` added to the environment; dry: print, (0, 0.0)."""
        if self.dry_run:
            self.echo(self.show(cmd, cwd, env))
            return EXIT_OK, 0.0
        full_env = {**os.environ, **(env or {})}
        start = time.monotonic()
        if log is None:
            code = subprocess.run([str(c) for c in cmd], cwd=cwd, env=full_env).returncode
        else:
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "w", encoding="utf-8") as out:
                out.write(f"$ {self.show(cmd, cwd, env)}\n")
                out.flush()
                code = subprocess.run([str(c) for c in cmd], cwd=cwd, env=full_env, stdout=out,
                                      stderr=subprocess.STDOUT).returncode
        return code, time.monotonic() - start


def git(args: Sequence[str], cwd: Path) -> str:
    """Output of a git command in `cwd` (stripped); HarnessError with git's message when it fails."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise HarnessError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def git_step(shell: Shell, args: Sequence[str], cwd: Path) -> str:
    """git for a setup step: printed in a dry run, run (output returned) otherwise."""
    if shell.dry_run:
        shell.echo(shell.show(["git", *args], cwd))
        return ""
    return git(args, cwd)


def cli_command(*args: str, safe_path: bool = False) -> List[str]:
    """``python [-P] -m memory.benchmarking.cli ARGS``; -P keeps the cwd (a scratch clone) off sys.path,
    so the CLI is the installed checkout's, not the planted clone's."""
    return [sys.executable, *(["-P"] if safe_path else []), "-m", CLI_MODULE, *args]


def tail(path: Path, lines: int = 5) -> str:
    """The last lines of a log file, indented (for an error message)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in text[-lines:])


# ---- scratch clones ----------------------------------------------------------------------------

@dataclass
class Clone:
    """A scratch clone of the repository and the commit its branches start from."""

    path: Path
    base: str  # the repository's HEAD commit when cloned (or fetched)


def make_clone(shell: Shell, repo: Path, path: Path) -> Clone:
    """Clone `repo` into `path` (or refresh a kept clone there) and reset it to the repo's HEAD."""
    base = git(["rev-parse", "HEAD"], repo)
    if shell.dry_run:
        shell.run(["git", "clone", "--quiet", "--local", "--no-hardlinks", str(repo), str(path)])
        return Clone(path, base)
    if (path / ".git").is_dir():  # a kept clone: bring in the repo's HEAD
        git(["fetch", "--quiet", str(repo), "HEAD"], path)
        if git(["rev-parse", "FETCH_HEAD"], path) != base:
            raise HarnessError(f"the kept clone {path} could not fetch {base} from {repo}")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        code, _ = shell.run(["git", "clone", "--quiet", "--local", "--no-hardlinks", str(repo), str(path)])
        if code != 0:
            raise HarnessError(f"git clone of {repo} into {path} failed")
    git(["checkout", "--quiet", "--force", "--detach", base], path)
    git(["clean", "-fdxq", "-e", ".asv"], path)  # keep asv's environments and results between runs
    return Clone(path, base)


def start_branch(shell: Shell, clone: Clone, name: str) -> None:
    """Check out branch gate-trust/<name> at the base commit (reset if it exists)."""
    git_step(shell, ["checkout", "--quiet", "--force", "-B", BRANCH_PREFIX + name, clone.base], clone.path)


def commit(shell: Shell, clone: Clone, message: str, files: Sequence[str] = (), allow_empty: bool = False) -> str:
    """Commit `files` (or nothing, with allow_empty) on the current branch; returns the new commit."""
    if files:
        git_step(shell, ["add", "--", *files], clone.path)
    args = [*GIT_IDENTITY, "commit", "--quiet", "--no-verify", "-m", message]
    args += ["--allow-empty"] if allow_empty else []
    git_step(shell, args, clone.path)
    return "" if shell.dry_run else git(["rev-parse", "HEAD"], clone.path)


def prepare_aa(shell: Shell, clone: Clone) -> str:
    """Branch gate-trust/aa: the base plus an empty commit (same tree, another hash); returns its hash."""
    start_branch(shell, clone, "aa")
    head = commit(shell, clone, "gate_trust: empty commit (A/A: same tree as its parent)", allow_empty=True)
    if head and git(["rev-parse", "HEAD^{tree}"], clone.path) != git(["rev-parse", "HEAD~1^{tree}"], clone.path):
        raise HarnessError("the A/A commit changed the tree")
    return head


def prepare_planted(shell: Shell, clone: Clone, change: PlantedChange) -> str:
    """Branch gate-trust/<change>: the base plus one commit with the planted change; returns its hash."""
    start_branch(shell, clone, change.name)
    if shell.dry_run:
        shell.note(f"append the planted block of {change.name!r} to {change.file} (anchors: "
                   + ", ".join(repr(a.strip()) for a in change.anchors) + ")")
    else:
        apply_change(clone.path, change)
    head = commit(shell, clone, f"gate_trust: planted change {change.name}: {change.summary}", files=[change.file])
    if head:
        changed = git(["diff", "--name-only", "HEAD~1", "HEAD"], clone.path).splitlines()
        if changed != [change.file]:
            raise HarnessError(f"planted commit of {change.name!r} changed {changed}, expected [{change.file}]")
    return head


def remove_clone(clone: Optional[Clone]) -> None:
    """Delete a scratch clone (its worktrees included)."""
    if clone is not None and clone.path.exists():
        shutil.rmtree(clone.path, ignore_errors=True)


def check_cli_import(clone: Clone) -> str:
    """Where ``python -P`` run in the clone imports `memory` from; HarnessError if from the clone itself
    (the CLI must be the checkout's, and must not run the planted code)."""
    proc = subprocess.run([sys.executable, "-P", "-c", "import memory; print(memory.__file__)"], cwd=clone.path,
                          capture_output=True, text=True)
    where = proc.stdout.strip()
    if proc.returncode != 0 or not where:
        raise HarnessError("the CLI cannot be imported outside the repo: pip install -e . in the checkout "
                           f"({proc.stderr.strip().splitlines()[-1:] or ''})")
    if Path(where).resolve().is_relative_to(clone.path.resolve()):
        raise HarnessError(f"python -P in the clone imports memory from the clone ({where}); unset PYTHONPATH")
    return where


# ---- verdicts: related and unrelated flags -----------------------------------------------------

def read_json(path: Path) -> Optional[Dict[str, Any]]:
    """A JSON object from `path`, or None when missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class AsvNames:
    """Which asv benchmark produced each metric, from the result documents' metadata."""

    by_metric: Dict[Tuple[str, str, str], str] = field(default_factory=dict)
    by_benchmark: Dict[Tuple[str, str], List[str]] = field(default_factory=dict)

    def add_document(self, doc: Mapping[str, Any]) -> None:
        """Record ``metadata.metric_sources`` and ``metadata.asv_benchmarks`` of one result document."""
        key = (str(doc.get("category", "")), str(doc.get("benchmark", "")))
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        names = meta.get("asv_benchmarks")
        if isinstance(names, list):
            known = self.by_benchmark.setdefault(key, [])
            known.extend(n for n in names if isinstance(n, str) and n not in known)
        sources = meta.get("metric_sources")
        if isinstance(sources, dict):
            for metric, name in sources.items():
                if isinstance(name, str):
                    self.by_metric[(*key, str(metric))] = name

    def candidates(self, measurement: Mapping[str, Any]) -> List[str]:
        """The asv benchmark(s) a verdict measurement may come from: one when known, else every
        asv benchmark of its documented benchmark."""
        for key in ("asv_benchmark", "asv_name"):
            if isinstance(measurement.get(key), str):
                return [measurement[key]]
        cat, bench = str(measurement.get("category", "")), str(measurement.get("benchmark", ""))
        name = self.by_metric.get((cat, bench, str(measurement.get("metric", ""))))
        return [name] if name else list(self.by_benchmark.get((cat, bench), []))


def load_asv_names(folders: Iterable[Path]) -> AsvNames:
    """AsvNames from every result document (``*.json`` with benchmark/category) under `folders`."""
    names = AsvNames()
    for folder in folders:
        if not Path(folder).is_dir():
            continue
        for path in sorted(Path(folder).rglob("*.json")):
            doc = read_json(path)
            if doc and "benchmark" in doc and "category" in doc:
                names.add_document(doc)
    return names


def is_related(change: Optional[PlantedChange], candidates: Sequence[str], path: str) -> bool:
    """Related when the change is built to move it; with several candidate asv benchmarks, only when
    all are (an unresolved name never counts as a detection)."""
    return change is not None and bool(candidates) and all(change.is_related(c, path) for c in candidates)


@dataclass
class Trial:
    """One trial: the gate's exit code and what it flagged, split into related and unrelated."""

    index: int
    exit_code: int
    seconds: float
    flagged: List[Dict[str, Any]] = field(default_factory=list)
    counts: Dict[str, Any] = field(default_factory=dict)
    error: Optional[str] = None
    verdict_path: Optional[str] = None
    log: Optional[str] = None
    notes: List[str] = field(default_factory=list)  # e.g. a `cli run` that exited 1 (a benchmark failed)
    gate_seconds: Optional[float] = None  # the gate's own wall_seconds, when its verdict has them

    def of(self, related: bool, status: Optional[str] = None) -> List[Dict[str, Any]]:
        """Flagged measurements that are (un)related, optionally of one status."""
        return [m for m in self.flagged if m["related"] == related and (status is None or m["status"] == status)]

    @property
    def detected(self) -> bool:
        """Exit 2 with at least one related regression."""
        return self.exit_code == EXIT_REGRESSION and bool(self.of(True, "regression"))

    def to_json(self) -> Dict[str, Any]:
        """The trial as a JSON-ready dict."""
        return {"trial": self.index, "exit_code": self.exit_code, "seconds": round(self.seconds, 3),
                "detected": self.detected, "error": self.error, "counts": self.counts,
                "related_regressions": len(self.of(True, "regression")),
                "unrelated_regressions": len(self.of(False, "regression")),
                "unrelated_improvements": len(self.of(False, "improvement")),
                "gate_wall_seconds": self.gate_seconds, "notes": self.notes,
                "flagged": self.flagged, "verdict": self.verdict_path, "log": self.log}


def flagged_measurements(verdict: Mapping[str, Any], change: Optional[PlantedChange],
                         names: AsvNames) -> List[Dict[str, Any]]:
    """Every regression or improvement of a verdict, with its asv benchmark(s) and whether it is related."""
    out = []
    for m in verdict.get("measurements") or verdict.get("regressions") or []:
        if not isinstance(m, dict) or m.get("status") not in FLAG_STATUSES:
            continue
        candidates = names.candidates(m)
        path = str(m.get("path") or "")
        out.append({"status": m.get("status"), "category": m.get("category"), "benchmark": m.get("benchmark"),
                    "path": path, "metric": m.get("metric"), "kind": m.get("kind"), "change": m.get("change"),
                    "p_value": m.get("p_value"), "confirmed": m.get("confirmed"),
                    "asv": candidates[0] if len(candidates) == 1 else candidates,
                    "related": is_related(change, candidates, path)})
    return out


def judge_trial(index: int, exit_code: int, seconds: float, verdict: Optional[Mapping[str, Any]],
                change: Optional[PlantedChange], names: AsvNames) -> Trial:
    """A Trial from the gate's exit code and verdict JSON (None: no verdict was written)."""
    trial = Trial(index, exit_code, seconds)
    if exit_code not in (EXIT_OK, EXIT_REGRESSION):
        trial.error = f"the gate exited {exit_code}"
    if verdict is None:
        trial.error = trial.error or "no verdict JSON was written"
        return trial
    trial.counts = dict(verdict.get("counts") or {})
    trial.flagged = flagged_measurements(verdict, change, names)
    if isinstance(verdict.get("wall_seconds"), (int, float)):
        trial.gate_seconds = float(verdict["wall_seconds"])
    recorded = verdict.get("exit_code")
    if recorded in (EXIT_OK, EXIT_REGRESSION) and recorded != exit_code and trial.error is None:
        trial.error = f"exit code {exit_code} but the verdict says {recorded}"
    return trial


# ---- a mode's trials and their summary ---------------------------------------------------------

@dataclass
class ModeResult:
    """All trials of one mode (and planted change), with the target they are held to."""

    mode: str
    change: Optional[PlantedChange]
    trials: List[Trial] = field(default_factory=list)
    commands: List[str] = field(default_factory=list)
    commits: Dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``planted store_single`` or the mode's name."""
        return f"{self.mode} {self.change.name}" if self.change else self.mode

    def summary(self) -> Dict[str, Any]:
        """Trials, exit-2 count, errors, detections, unrelated flags, median seconds, and the target."""
        n = len(self.trials)
        seconds = [t.seconds for t in self.trials]
        out: Dict[str, Any] = {
            "mode": self.mode, "change": self.change.name if self.change else None, "trials": n,
            "exit_2": sum(t.exit_code == EXIT_REGRESSION for t in self.trials),
            "errors": sum(t.error is not None for t in self.trials),
            "detected": sum(t.detected for t in self.trials) if self.change else None,
            "unrelated_flag_trials": sum(bool(t.of(False)) for t in self.trials),
            "unrelated_regressions": sum(len(t.of(False, "regression")) for t in self.trials),
            "unrelated_improvements": sum(len(t.of(False, "improvement")) for t in self.trials),
            "median_seconds": round(statistics.median(seconds), 1) if seconds else None,
            "related_flagged_per_benchmark": self.per_benchmark(True),
            "unrelated_flagged_per_benchmark": self.per_benchmark(False),
        }
        out["target"], out["target_met"] = self.target(out)
        return out

    def per_benchmark(self, related: bool) -> Dict[str, int]:
        """{asv benchmark: trials in which it had a flagged measurement}, related or unrelated ones."""
        counts: Dict[str, int] = {}
        for trial in self.trials:
            for name in sorted({_asv_label(m["asv"]) for m in trial.of(related)}):
                counts[name] = counts.get(name, 0) + 1
        return counts

    def target(self, s: Mapping[str, Any]) -> Tuple[str, Optional[bool]]:
        """The issue's target for this mode and whether these trials meet it (None without trials)."""
        n = s["trials"]
        if not n:
            return "", None
        if self.change is None:
            return "0 exit-2 verdicts", s["exit_2"] == 0 and s["errors"] == 0
        need = n if self.change.expect_all else math.ceil(0.9 * n)
        text = f"detected >= {need}/{n}, nothing unrelated flagged"
        return text, s["detected"] >= need and s["unrelated_flag_trials"] == 0 and s["errors"] == 0


def _asv_label(asv: Any) -> str:
    """An asv name, or candidates joined with '|' when the name was not resolved."""
    return asv if isinstance(asv, str) else "|".join(asv) or "?"


def progress_line(result: ModeResult, trial: Trial, total: int) -> str:
    """``[planted store_single] trial 3/10: exit 2, flagged 6 (related 6, unrelated 0), 412.3 s``."""
    line = (f"[{result.label}] trial {trial.index}/{total}: exit {trial.exit_code}, flagged {len(trial.flagged)} "
            f"(related {len(trial.of(True))}, unrelated {len(trial.of(False))})")
    if result.change:
        line += ", detected" if trial.detected else ", NOT detected"
    line += f", {trial.seconds:.1f} s"
    return line + (f"  ERROR: {trial.error}" if trial.error else "")


def table(results: Sequence[ModeResult]) -> str:
    """The end-of-run table: one row per mode (and change)."""
    headers = ["mode", "change", "trials", "exit-2", "errors", "detected", "unrelated", "median s", "target", "met"]
    rows = []
    for r in results:
        s = r.summary()
        rows.append([s["mode"], s["change"] or "-", s["trials"], s["exit_2"], s["errors"],
                     "-" if s["detected"] is None else s["detected"], s["unrelated_flag_trials"],
                     "-" if s["median_seconds"] is None else s["median_seconds"], s["target"],
                     {True: "yes", False: "NO", None: "-"}[s["target_met"]]])
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_summary(path: Path, settings: Mapping[str, Any], results: Sequence[ModeResult]) -> None:
    """Write the JSON summary (settings, per mode: summary, commits, commands, trials)."""
    doc = {"created": _dt.datetime.now().isoformat(timespec="seconds"), "settings": dict(settings),
           "modes": [{**r.summary(), "commits": r.commits, "commands": r.commands,
                      "trial_details": [t.to_json() for t in r.trials]} for r in results]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)


# ---- the modes ---------------------------------------------------------------------------------

@dataclass
class Context:
    """Settings shared by every mode of one invocation."""

    shell: Shell
    repo: Path
    work_dir: Path
    run_dir: Path
    trials: int
    categories: List[str]
    profile: str
    threshold: float
    bench: Optional[str] = None
    no_confirm: bool = False
    related_only: bool = False
    clone: Optional[Clone] = None
    on_trial: Callable[[], None] = lambda: None

    def continuous_options(self, change: Optional[PlantedChange]) -> List[str]:
        """The options of ``cli continuous`` shared by every trial."""
        opts: List[str] = []
        for category in self.categories:
            opts += ["--category", category]
        bench = change.bench_regex() if (self.related_only and change) else self.bench
        if bench:
            opts += ["--bench", bench]
        opts += ["--threshold", repr(self.threshold), "--profile", self.profile]
        return opts + (["--no-confirm"] if self.no_confirm else [])

    def ensure_clone(self) -> Clone:
        """The scratch clone of this invocation (made on first use)."""
        if self.clone is None:
            self.clone = make_clone(self.shell, self.repo, self.work_dir / "clone")
        return self.clone


def _record(ctx: Context, result: ModeResult, trial: Trial, log: Optional[Path]) -> None:
    """Add a finished trial, print its progress line, and let the caller rewrite the summary."""
    trial.log = str(log) if log else None
    result.trials.append(trial)
    if ctx.shell.dry_run:
        return
    print(progress_line(result, trial, ctx.trials), flush=True)
    if trial.error and log is not None:
        print(tail(log), flush=True)
    ctx.on_trial()


def _cli_run(ctx: Context, result: ModeResult, out: Path) -> Tuple[float, List[str]]:
    """One ``cli run`` (one per --category) into `out`; (seconds, notes on benchmarks that failed)."""
    seconds, notes = 0.0, []
    for category in ctx.categories or [None]:
        cmd = cli_command("run", *(["--category", category] if category else []), "--profile", ctx.profile,
                          "--output-dir", str(out))
        result.commands.append(ctx.shell.show(cmd, ctx.repo))
        log = out.parent / f"{out.name}{'_' + category if category else ''}.log"
        code, secs = ctx.shell.run(cmd, ctx.repo, log=log)
        seconds += secs
        if code not in (EXIT_OK, EXIT_ERROR) and not ctx.shell.dry_run:
            raise HarnessError(f"cli run exited {code}; see {log}")
        if code == EXIT_ERROR:
            notes.append(f"cli run into {out.name} exited 1 (a benchmark failed; see {log})")
    return seconds, notes


def run_aa_sequential(ctx: Context, result: ModeResult) -> None:
    """``cli run`` N+1 times on the checkout, ``cli compare --json`` of each run against the previous one."""
    folder = ctx.run_dir / "aa-sequential"
    runs = [folder / f"run_{i:02d}" for i in range(ctx.trials + 1)]
    _, previous_notes = _cli_run(ctx, result, runs[0])
    for i in range(1, len(runs)):
        run_seconds, notes = _cli_run(ctx, result, runs[i])
        verdict_path = folder / f"verdict_{i:02d}.json"
        cmd = cli_command("compare", "--current-dir", str(runs[i]), "--baseline-dir", str(runs[i - 1]),
                          "--threshold", repr(ctx.threshold), "--json", str(verdict_path))
        result.commands.append(ctx.shell.show(cmd, ctx.repo))
        log = folder / f"compare_{i:02d}.log"
        code, secs = ctx.shell.run(cmd, ctx.repo, log=log)
        trial = judge_trial(i, code, run_seconds + secs, None if ctx.shell.dry_run else read_json(verdict_path),
                            None, load_asv_names([runs[i], runs[i - 1]]))
        trial.verdict_path, trial.notes = str(verdict_path), previous_notes + notes
        previous_notes = notes
        _record(ctx, result, trial, log)


def run_continuous_trials(ctx: Context, result: ModeResult, change: Optional[PlantedChange]) -> None:
    """N runs of ``cli continuous HEAD~1 HEAD`` in the clone (whose branch is already prepared)."""
    clone = ctx.ensure_clone()
    if not ctx.shell.dry_run:
        check_cli_import(clone)
    env = {ASV_CONFIG_ENV: str(clone.path / "asv.conf.json")}
    folder = ctx.run_dir / result.label.replace(" ", "_")
    for i in range(1, ctx.trials + 1):
        out = folder / f"trial_{i:02d}"
        cmd = cli_command("continuous", "HEAD~1", "HEAD", *ctx.continuous_options(change), "--output-dir", str(out),
                          safe_path=True)
        result.commands.append(ctx.shell.show(cmd, clone.path, env))
        log = folder / f"trial_{i:02d}.log"
        code, secs = ctx.shell.run(cmd, clone.path, env, log=log)
        verdict = None if ctx.shell.dry_run else read_json(out / "verdict.json")
        trial = judge_trial(i, code, secs, verdict, change,
                            load_asv_names([out / "current", out / "baseline", out]))
        trial.verdict_path = str(out / "verdict.json")
        _check_commits(trial, verdict, result.commits)
        _record(ctx, result, trial, log)


def _check_commits(trial: Trial, verdict: Optional[Mapping[str, Any]], commits: Mapping[str, str]) -> None:
    """Flag a trial whose verdict names other commits than the ones prepared (a wrong build)."""
    if not verdict:
        return
    for key in ("base", "head"):
        got, want = str(verdict.get(key) or ""), commits.get(key, "")
        if got and want and not (want.startswith(got) or got.startswith(want)) and trial.error is None:
            trial.error = f"the verdict's {key} is {got}, expected {want}"


def run_aa_continuous(ctx: Context, result: ModeResult) -> None:
    """The A/A pair in the clone (base + empty commit), then N continuous trials."""
    clone = ctx.ensure_clone()
    head = prepare_aa(ctx.shell, clone)
    result.commits = {"base": clone.base, "head": head}
    run_continuous_trials(ctx, result, None)


def run_planted(ctx: Context, result: ModeResult) -> None:
    """The planted commit in the clone (base + the change), then N continuous trials."""
    assert result.change is not None
    clone = ctx.ensure_clone()
    head = prepare_planted(ctx.shell, clone, result.change)
    result.commits = {"base": clone.base, "head": head}
    run_continuous_trials(ctx, result, result.change)


# ---- verify: each planted change measured directly, side by side -------------------------------

AGENT = "gate_trust_agent"
_STATUSES = ("idle", "moving", "gathering", "fighting")
_ITEMS = ("item1", "item2", "item3", "item4", "item5")


def sample_state(rng: random.Random, step: int, complexity: int = 1) -> Dict[str, Any]:
    """A state shaped like the suite's ``generate_test_state(complexity)`` (seeded)."""
    c = complexity
    return {"position": [rng.random() for _ in range(3 * c)],
            "inventory": [_ITEMS[int(rng.random() * 5)] for _ in range(5 * c)],
            "attributes": {f"attr_{i}": rng.random() for i in range(10 * c)},
            "goals": [{"id": f"goal_{g}", "priority": rng.random(), "progress": rng.random(),
                       "subgoals": [f"subgoal_{g}_{j}" for j in range(c)]} for g in range(2 * c)],
            "timestamp": 1_700_000_000 + step, "step_count": rng.randint(1, 1000),
            "status": _STATUSES[int(rng.random() * 4)]}


def sample_states(n: int, seed: int = 0, complexity: int = 1) -> List[Dict[str, Any]]:
    """`n` seeded sample states."""
    rng = random.Random(seed)
    return [sample_state(rng, i, complexity) for i in range(n)]


def load_memory_package(alias: str, tree: Path) -> ModuleType:
    """Import ``<tree>/memory`` as a package named `alias` (its relative imports stay inside it), so an
    unpatched and a patched copy can be timed side by side in one process."""
    if alias in sys.modules:
        return sys.modules[alias]
    root = Path(tree) / "memory"
    spec = importlib.util.spec_from_file_location(alias, root / "__init__.py",
                                                  submodule_search_locations=[str(root)])
    if spec is None or spec.loader is None:
        raise HarnessError(f"cannot import {root}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module
    spec.loader.exec_module(module)
    module.AgentMemorySystem  # noqa: B018 - import the (lazily loaded) system module now, from this tree
    return module


def new_system(pkg: ModuleType, room: int, im_limit: Optional[int] = None) -> Any:
    """A system of `pkg` holding `room` memories in STM (and IM, unless `im_limit`) without automatic
    maintenance."""
    config = pkg.MemoryConfig()
    config.stm_config.memory_limit = config.im_config.memory_limit = max(room, 1000) + 1
    if im_limit is not None:
        config.im_config.memory_limit = im_limit
    config.cleanup_interval = 1 << 30
    return pkg.AgentMemorySystem(config)


class Workload:
    """One system of one version of the code, and a chunk of the operation a slowdown targets; `chunk()`
    runs it once. Base and patched workloads are timed chunk by chunk, alternately."""

    def __init__(self, name: str, pkg: ModuleType, states: Sequence[dict], size: Optional[int] = None) -> None:
        self.name, self.pkg, self.states = name, pkg, list(states)
        self.size = size or CHUNK[name]
        self.stores = name.startswith("store")
        # store workloads write into a fresh system every `room` states (bounded memory, no STM overflow)
        self.room = max(self.size, len(self.states), STORE_ROOM) if self.stores else len(self.states)
        self.system = new_system(pkg, self.room)
        self.step = self.held = 0
        if not self.stores:
            self.ids = self.system.store_agent_states(AGENT, self.states, list(range(len(self.states))))
        self.chunk = getattr(self, "_" + name)

    def prepare(self) -> None:
        """Before a timed chunk (untimed): a fresh system when the next stores would not fit."""
        if self.stores and self.held + self.size > self.room:
            self.system.close()
            self.system, self.held = new_system(self.pkg, self.room), 0
        self.held += self.size if self.stores else 0

    def _next_states(self) -> Tuple[List[dict], int]:
        """The next `size` states (cycling through the sample) and the step of the first."""
        n = len(self.states)
        start, self.step = self.step, self.step + self.size
        return [self.states[(start + i) % n] for i in range(self.size)], start

    def _store_single(self) -> None:
        """`size` store_agent_state calls."""
        states, step = self._next_states()
        store = self.system.store_agent_state
        for i, state in enumerate(states):
            store(AGENT, state, step + i)

    def _store_batch(self) -> None:
        """One store_agent_states call of `size` states."""
        states, step = self._next_states()
        self.system.store_agent_states(AGENT, states, list(range(step, step + self.size)))

    def _retrieve(self) -> None:
        """`size` retrieve_state calls over the preloaded ids."""
        get, ids, start = self.system.retrieve_state, self.ids, self.step
        self.step += self.size
        for i in range(start, start + self.size):
            get(ids[(i * 7919) % len(ids)])

    def _search(self) -> None:
        """`size` STM searches (k=10) over the preloaded states."""
        search, states, start = self.system.retrieve_similar_states, self.states, self.step
        self.step += self.size
        for i in range(start, start + self.size):
            search(AGENT, states[(i * 7919) % len(states)], k=10, tier="stm")

    def close(self) -> None:
        """Close the system (its temporary LTM file goes)."""
        self.system.close()


#: States a store workload's system holds before it is replaced (untimed).
STORE_ROOM = 5000
#: Operations per timed chunk: ~0.5-2 ms each, short enough that the two sides of a pair see the same load.
CHUNK = {"store_single": 50, "store_batch": 100, "retrieve": 200, "search": 5}


def paired_times(name: str, base: ModuleType, patched: ModuleType, states: Sequence[dict],
                 pairs: int, chunk: Optional[int] = None) -> Tuple[List[float], List[float]]:
    """(base seconds, patched seconds) of `pairs` chunk pairs, the two sides back to back (order
    flipped every pair), so load from other processes hits both alike."""
    sides = {"base": Workload(name, base, states, chunk), "patched": Workload(name, patched, states, chunk)}
    times: Dict[str, List[float]] = {"base": [], "patched": []}
    clock = time.perf_counter
    try:
        for side in sides.values():  # warm-up
            side.prepare()
            side.chunk()
        gc.collect()
        for r in range(pairs):
            for label in (("base", "patched") if r % 2 == 0 else ("patched", "base")):
                sides[label].prepare()
                t0 = clock()
                sides[label].chunk()
                times[label].append(clock() - t0)
    finally:
        for side in sides.values():
            side.close()
    return times["base"], times["patched"]


def measure_slowdown(name: str, base: ModuleType, patched: ModuleType, n: int = 1000, pairs: int = 200,
                     complexity: int = 1, chunk: Optional[int] = None) -> Dict[str, Any]:
    """Time ratio patched / base of one slowdown change over `n` states: the median of the per-pair
    ratios (the estimate), the ratio of medians and of minima (checks)."""
    base_t, patched_t = paired_times(name, base, patched, sample_states(n, complexity=complexity), pairs, chunk)
    return {"change": name, "n": n, "complexity": complexity, "pairs": pairs, "chunk": chunk or CHUNK[name],
            "base_median_s": statistics.median(base_t), "patched_median_s": statistics.median(patched_t),
            "paired_ratio": statistics.median(p / b for b, p in zip(base_t, patched_t)),
            "ratio": statistics.median(patched_t) / statistics.median(base_t),
            "min_ratio": min(patched_t) / min(base_t), "expected": 1.25}


def exact_top_k(system: Any, states: Sequence[dict], ids: Sequence[str], queries: Sequence[dict],
                k: int) -> List[List[str]]:
    """Per query, the ids of the exact top-k by cosine of the STM state vectors (brute force, float64)."""
    import numpy as np

    encoder = system.get_encoder("stm")
    x = np.asarray(encoder.encode_states(list(states)), dtype=np.float64)
    q = np.asarray(encoder.encode_states(list(queries)), dtype=np.float64)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    order = np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :k]
    return [[ids[j] for j in row] for row in order]


def recall_at_k(pkg: ModuleType, states: Sequence[dict], queries: Sequence[dict], k: int = 10) -> float:
    """Mean |hits ∩ exact top-k| / k of STM searches of `queries` over `states`."""
    with new_system(pkg, len(states)) as system:
        ids = system.store_agent_states(AGENT, list(states), list(range(len(states))))
        exact = exact_top_k(system, states, ids, queries, k)
        hits = 0
        for query, truth in zip(queries, exact):
            got = {m["memory_id"] for m in system.retrieve_similar_states(AGENT, query, k=k, tier="stm")}
            hits += len(got & set(truth))
        return hits / (k * len(queries))


def measure_recall(base: ModuleType, patched: ModuleType, n: int = 500, queries: int = 40,
                   k: int = 10) -> Dict[str, Any]:
    """recall@k against exact of the base and patched code on a seeded dataset (k=1 too: untouched)."""
    states, qs = sample_states(n, seed=1), sample_states(queries, seed=2)
    return {"change": "recall", "n": n, "queries": queries, "k": k,
            "base_recall": recall_at_k(base, states, qs, k), "patched_recall": recall_at_k(patched, states, qs, k),
            "base_recall_k1": recall_at_k(base, states, qs, 1),
            "patched_recall_k1": recall_at_k(patched, states, qs, 1),
            "expected": 0.9}


def tier_bytes_and_contents(pkg: ModuleType, states: Sequence[dict]) -> Dict[str, Any]:
    """Stored bytes of `states` written into IM and into LTM (one agent each), the LTM contents read
    back, and the LTM bytes of the same states moved IM → LTM by maintenance (the transition path)."""
    steps = list(range(len(states)))
    with new_system(pkg, len(states)) as system:
        ltm_ids = system.store_agent_states(AGENT, list(states), steps, tier="ltm")
        system.store_agent_states(AGENT + "_im", list(states), steps, tier="im")
        out = {"ltm_bytes": system.get_memory_statistics(AGENT)["tiers"]["ltm"]["stored_bytes"],
               "im_bytes": system.get_memory_statistics(AGENT + "_im")["tiers"]["im"]["stored_bytes"],
               "contents": [system.retrieve_state(m)["content"] for m in ltm_ids]}
    with new_system(pkg, len(states), im_limit=1) as system:
        system.store_agent_states(AGENT, list(states), steps, tier="im")
        system.force_memory_maintenance(AGENT)
        ltm = system.get_memory_statistics(AGENT)["tiers"]["ltm"]
        out.update(moved_ltm_bytes=ltm["stored_bytes"], moved_ltm_count=ltm["count"])
    return out


def measure_ltm(base: ModuleType, patched: ModuleType, n: int = 500) -> Dict[str, Any]:
    """LTM stored bytes patched / base (direct writes and IM→LTM moves), IM bytes (must not move), and
    whether LTM contents read back identical."""
    states = sample_states(n, seed=3)
    b, p = tier_bytes_and_contents(base, states), tier_bytes_and_contents(patched, states)
    return {"change": "ltm_record", "n": n, "base_ltm_bytes": b["ltm_bytes"], "patched_ltm_bytes": p["ltm_bytes"],
            "ratio": p["ltm_bytes"] / b["ltm_bytes"],
            "moved_ratio": p["moved_ltm_bytes"] / b["moved_ltm_bytes"] if b["moved_ltm_bytes"] else None,
            "moved_count": (b["moved_ltm_count"], p["moved_ltm_count"]),
            "im_ratio": p["im_bytes"] / b["im_bytes"], "contents_equal": b["contents"] == p["contents"],
            "expected": 1.25}


def measure_change(name: str, base: ModuleType, patched: ModuleType, pairs: int = 200, n: int = 1000,
                   complexity: int = 1, chunk: Optional[int] = None) -> Dict[str, Any]:
    """The measured effect of one planted change (see verify)."""
    if name == "recall":
        return measure_recall(base, patched)
    if name == "ltm_record":
        return measure_ltm(base, patched)
    return measure_slowdown(name, base, patched, n=n, pairs=pairs, complexity=complexity, chunk=chunk)


def add_worktree(clone: Clone, rev: str, dest: Path) -> Path:
    """A detached worktree of the clone at `rev` (for importing one version of the code)."""
    git(["worktree", "add", "--quiet", "--force", "--detach", str(dest), rev], clone.path)
    return dest


def build_extension(tree: Path) -> Optional[Path]:
    """Build the C speedups in place in `tree`; the built file, or None when it could not be built."""
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree,
                          capture_output=True, text=True)
    built = sorted((Path(tree) / "memory" / "embeddings").glob("_speedups*.so"))
    return built[0] if proc.returncode == 0 and built else None


def verify_line(result: Mapping[str, Any]) -> str:
    """One line of a verify result."""
    name = result["change"]
    if name == "recall":
        return (f"recall        recall@10 base {result['base_recall']:.3f} -> patched {result['patched_recall']:.3f} "
                f"(expected 0.900); recall@1 {result['base_recall_k1']:.3f} -> {result['patched_recall_k1']:.3f}")
    if name == "ltm_record":
        return (f"ltm_record    LTM bytes {result['base_ltm_bytes']} -> {result['patched_ltm_bytes']} ratio "
                f"{result['ratio']:.4f} (IM->LTM moves {result['moved_ratio'] or 0:.4f}; IM {result['im_ratio']:.4f}); "
                f"contents equal: {result['contents_equal']}")
    per_call = 1e6 / result["chunk"]
    unit = "state" if name == "store_batch" else "call"
    return (f"{name:<13} ratio {result['paired_ratio']:.3f} (median of per-pair ratios; of medians "
            f"{result['ratio']:.3f}, of minima {result['min_ratio']:.3f}; expected 1.25): "
            f"{result['base_median_s'] * per_call:.2f} -> {result['patched_median_s'] * per_call:.2f} us per {unit}, "
            f"{result['pairs']} pairs of {result['chunk']} {unit}s, {result['n']} "
            f"complexity-{result['complexity']} states")


def cmd_verify(args: argparse.Namespace, ctx: Context) -> int:
    """Measure every selected planted change directly (no CLI): unpatched vs patched, side by side, each
    imported from its own worktree of the clone (so no lazy import can read the other version)."""
    names = args.change or list(CHANGES)
    if ctx.shell.dry_run:
        ctx.shell.note("verify imports a base worktree and each patched worktree side by side; no commands")
        return EXIT_OK
    clone = ctx.ensure_clone()
    trees = clone.path / ".gate_trust_worktrees"
    shutil.rmtree(trees, ignore_errors=True)  # worktrees of a kept clone's earlier verify
    git(["worktree", "prune"], clone.path)
    base_tree = add_worktree(clone, clone.base, trees / "base")
    so = build_extension(base_tree) if args.build_ext else None
    if args.build_ext and so is None:
        print("warning: the C speedups did not build; measuring the pure-Python code", file=sys.stderr)
    base = load_memory_package("gt_verify_base", base_tree)
    results = []
    for name in names:
        head = prepare_planted(Shell(), clone, CHANGES[name])
        tree = add_worktree(clone, head, trees / name)
        if so is not None:
            shutil.copy2(so, tree / "memory" / "embeddings" / so.name)
        result = measure_change(name, base, load_memory_package(f"gt_verify_{name}", tree), pairs=args.pairs,
                                n=args.states, complexity=args.complexity, chunk=args.chunk)
        result["native"] = so is not None
        results.append(result)
        print(verify_line(result), flush=True)
    out = ctx.work_dir / f"gate_trust_verify_{_dt.datetime.now():%Y%m%d_%H%M%S}.json"
    out.write_text(json.dumps({"base": clone.base, "native": so is not None, "results": results}, indent=2,
                              default=str), encoding="utf-8")
    print(f"verify results: {out}")
    return EXIT_OK


# ---- command line ------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    """The harness's command line (``--help``: the method, the modes, the targets)."""
    parser = argparse.ArgumentParser(
        prog="python scripts/gate_trust.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Targets (issue #9, 2 cores, default profile): aa-sequential and aa-continuous 0 exit-2 in\n"
               "10 trials; store_single, store_batch, retrieve, search detected in >= 9/10 with nothing\n"
               "unrelated flagged; recall and ltm_record detected 10/10. `changes` lists the related benchmarks.")
    sub = parser.add_subparsers(dest="mode", required=True, metavar="MODE")
    place = argparse.ArgumentParser(add_help=False)
    place.add_argument("--work-dir", help="clone, trial outputs and summaries (default: a new temp dir)")
    place.add_argument("--repo", default=str(REPO_ROOT), help="the repository to measure (default: this one)")
    place.add_argument("--keep", action="store_true", help="keep the scratch clone (reused with the same --work-dir)")
    place.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    trials = argparse.ArgumentParser(add_help=False, parents=[place])
    trials.add_argument("--trials", type=int, default=10, help="trials per mode (default 10)")
    trials.add_argument("--category", action="append", default=[],
                        help="only this category (repeatable; default: the whole suite)")
    trials.add_argument("--profile", default="default", help="benchmark profile (default: default)")
    trials.add_argument("--threshold", type=float, default=0.1, help="gate threshold (default 0.1)")
    trials.add_argument("--bench", help="continuous only: --bench REGEX passed to the gate")
    trials.add_argument("--no-confirm", action="store_true", help="continuous only: skip the confirmation pass")
    trials.add_argument("--related-only", action="store_true",
                        help="planted only: pass --bench <the change's related benchmarks> (faster, but unrelated "
                             "flags are only seen there; with --category the gate runs the union)")
    modes = {
        "aa-sequential": "A/A: N+1 x `cli run` on this checkout, `cli compare --json` of each run against the one "
                         "before; every exit 2 is a false alarm",
        "aa-continuous": "A/A: `cli continuous HEAD~1 HEAD` N times in a scratch clone whose HEAD is an empty "
                         "commit (same tree, two hashes); every exit 2 is a false alarm",
        "planted": "`cli continuous <base> <planted>` N times in a scratch clone with one planted change "
                   "committed; counts detections (exit 2 + a related regression) and unrelated flags",
        "all": "aa-sequential, aa-continuous, then every planted change, N trials each, one clone",
    }
    for name, text in modes.items():
        mode = sub.add_parser(name, parents=[trials], help=text, description=text)
        if name == "planted":
            mode.add_argument("--change", action="append", choices=sorted(CHANGES), required=True,
                              help="the planted change (repeatable)")
    text = "measure each planted change directly (no CLI, no asv): the base and the patched `memory` " \
           "imported side by side; time ratios, recall@10, LTM bytes"
    verify = sub.add_parser("verify", parents=[place], help=text, description=text)
    verify.add_argument("--change", action="append", choices=sorted(CHANGES), help="only this change (repeatable)")
    verify.add_argument("--pairs", type=int, default=200, help="timed chunk pairs per slowdown (default 200)")
    verify.add_argument("--states", type=int, default=1000, help="complexity-1 states per system (default 1000)")
    verify.add_argument("--complexity", type=int, default=1, help="state complexity, as the suite's (default 1)")
    verify.add_argument("--chunk", type=int, help="calls (store_batch: states) per timed chunk (default: "
                        + ", ".join(f"{k} {v}" for k, v in CHUNK.items()) + ")")
    verify.add_argument("--build-ext", action="store_true", help="build the C speedups in the clone first")
    sub.add_parser("changes", help="list the planted changes and their related benchmarks")
    return parser


def plan(mode: str, args: argparse.Namespace) -> List[Tuple[str, Optional[PlantedChange]]]:
    """The (mode, change) pairs an invocation runs, in order."""
    if mode == "all":
        return [("aa-sequential", None), ("aa-continuous", None)] + [("planted", c) for c in CHANGES.values()]
    if mode == "planted":
        return [("planted", CHANGES[name]) for name in args.change]
    return [(mode, None)]


RUNNERS: Dict[str, Callable[[Context, ModeResult], None]] = {
    "aa-sequential": run_aa_sequential, "aa-continuous": run_aa_continuous, "planted": run_planted,
}


def print_changes() -> int:
    """The planted changes, their files and related benchmarks."""
    for change in CHANGES.values():
        print(f"{change.name}: {change.summary}\n  edits {change.file}; related benchmarks:")
        for rule in change.related:
            params = ", ".join(f"{k}={v}" for k, v in rule.params)
            print(f"    {rule.asv}" + (f"  [{params}]" if params else ""))
    return EXIT_OK


def make_context(args: argparse.Namespace, stamp: str) -> Context:
    """The shared settings of this invocation (the work dir is created unless dry)."""
    shell = Shell(dry_run=args.dry_run)
    if args.work_dir:
        work = Path(args.work_dir).resolve()
    elif args.dry_run:
        work = Path(tempfile.gettempdir()) / f"gate-trust-{stamp}"
    else:
        work = Path(tempfile.mkdtemp(prefix="gate-trust-"))
    if not args.dry_run:
        work.mkdir(parents=True, exist_ok=True)
    get = lambda name, default=None: getattr(args, name, default)  # noqa: E731 - verify has fewer options
    return Context(shell, Path(args.repo).resolve(), work, work / f"runs_{stamp}", get("trials", 0),
                   list(get("category", [])), get("profile", "default"), get("threshold", 0.1), get("bench"),
                   get("no_confirm", False), get("related_only", False))


def validate(args: argparse.Namespace) -> None:
    """Reject arguments that cannot work, before anything runs."""
    if getattr(args, "trials", 1) < 1:
        raise HarnessError(f"--trials must be at least 1; got {args.trials}")
    if getattr(args, "related_only", False) and getattr(args, "bench", None):
        raise HarnessError("--related-only and --bench exclude each other")
    threshold = getattr(args, "threshold", 0.1)
    if not math.isfinite(threshold) or threshold < 0:
        raise HarnessError(f"--threshold must be a number >= 0; got {threshold}")
    if getattr(args, "pairs", 1) < 1 or getattr(args, "states", 1000) < 20:
        raise HarnessError("--pairs must be at least 1 and --states at least 20")
    if not (Path(args.repo) / ".git").exists():
        raise HarnessError(f"not a git repository: {args.repo}")


def run_modes(args: argparse.Namespace, ctx: Context, stamp: str) -> int:
    """Every planned mode in turn; the summary is rewritten after each trial; returns the exit code."""
    summary_path = ctx.work_dir / f"gate_trust_{args.mode}_{stamp}.json"
    settings = {k: v for k, v in vars(args).items() if k != "dry_run"} | {"work_dir": str(ctx.work_dir),
                                                                         "python": sys.executable}
    results: List[ModeResult] = []
    ctx.on_trial = lambda: write_summary(summary_path, settings, results)
    if not ctx.shell.dry_run:
        print(f"gate_trust: work dir {ctx.work_dir}; summary {summary_path}", flush=True)
    for mode, change in plan(args.mode, args):
        result = ModeResult(mode, change)
        results.append(result)
        if ctx.shell.dry_run:
            ctx.shell.echo(f"# ---- {result.label}: {ctx.trials} trial(s)")
        RUNNERS[mode](ctx, result)
    if ctx.shell.dry_run:
        return EXIT_OK
    write_summary(summary_path, settings, results)
    print(table(results))
    print(f"summary: {summary_path}")
    return EXIT_ERROR if any(t.error for r in results for t in r.trials) else EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: 0 every trial ran (whatever the verdicts), 1 an error."""
    args = _parser().parse_args(argv)
    if args.mode == "changes":
        return print_changes()
    stamp = _dt.datetime.now().strftime("%Y%m%d_%H%M%S")
    ctx: Optional[Context] = None
    try:
        validate(args)
        ctx = make_context(args, stamp)
        if args.mode == "verify":
            return cmd_verify(args, ctx)
        return run_modes(args, ctx, stamp)
    except (HarnessError, PlantError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        if ctx is not None and ctx.clone is not None and not args.keep and not args.dry_run:
            remove_clone(ctx.clone)


if __name__ == "__main__":
    sys.exit(main())
