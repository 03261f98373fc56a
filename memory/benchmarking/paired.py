"""The confirmation pass of ``cli continuous``: every flagged timing re-measured block against block.

On this kind of machine the same code runs in fast and slow phases lasting seconds (one read
benchmark: 5.7 µs and 9-10 µs per call, alternating within one process, in wall and in CPU time
alike), so samples taken a minute apart, as asv's interleaved rounds take them, disagree by 50 %
whichever commit they belong to. Here both commits run at once, each in its own process (its asv
build unpacked on ``PYTHONPATH``, the environment's interpreter, the same benchmark suite), and a
coordinator asks them for one sample each in turn, each two block pairs holding both orders (which
comes first drawn at random, see :func:`block_order`): the two samples of a pair are milliseconds
apart, so they share the machine's phase and their ratio does not. Several such
process pairs guard against a process slow for its whole life.

The two processes of a pair share one CPU core (process pair i: the i-th allowed core, round
robin): on cores of their own, a storage timing of identical code spread by 77 % across process
pairs (median absolute deviation of their medians), 4 % on a shared core. Each process pins itself
before it imports anything: one moved there after its benchmark was set up stayed up to 40x slower
on a 0.5 ms encode for the rest of its life. Which commit is set up first alternates between
process pairs, so whatever leading does cannot point the same way in every pair. The process pairs
measure at the same time, one per core (pairs 1 and 2, then 3 and 4, ... on two cores). A benchmark
that declares ``parallel = True`` (its timed body runs threads or processes) is measured in a pair
of processes of its own, on every core, with no other pair beside it.
:func:`memory.benchmarking.verdict.paired_verdict` judges the pairs.
"""

from __future__ import annotations

import glob
import json
import os
import random
import selectors
import subprocess
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .config import TRACK_SAMPLES_ENV
from .verdict import in_points, metric_change

#: Process pairs per confirmation, and block pairs each measures of one flagged timing: at most
#: MAX_PAIRS, at least MIN_PAIRS, as many as fit in PAIR_BUDGET_SECONDS. The process pair is the
#: unit of independent replication (block pairs within one share its life): a process-level effect
#: favours one side in all of three pairs by chance 1 time in 4, in all of five 1 in 16, of six 1 in
#: 32. Six, not five: two pairs measure at once (one per core), so a sixth fills the third round's
#: idle core, and each commit leads (is set up first) in three. A candidate is measured again only
#: while it still could be confirmed, so most A/A candidates stop after two.
PROCESS_PAIRS = 6
MIN_PAIRS = 3
MAX_PAIRS = 8
PAIR_BUDGET_SECONDS = 1.5
#: Samples one call of a sampled timing track takes in the confirmation's processes (the default
#: profile's first pass takes 6): each call is one block of a block pair, and the block pairs, not
#: the samples inside a call, are what the sign test counts. A whole-suite A/A confirmation spent 295
#: of its 525 process-pair seconds on such tracks (one ReadLatencyP95 call on Redis took 2.4 s).
TRACK_BLOCK_SAMPLES = 3
#: A request (set-up, one sample) that takes longer than this kills the pair of processes.
REQUEST_TIMEOUT_SECONDS = 600.0
WORKER = Path(__file__).with_name("pairworker.py")


class PairedError(Exception):
    """The paired pass cannot run: a commit's build or the environment's interpreter is missing."""


@dataclass(frozen=True)
class Target:
    """One flagged measurement: an asv benchmark and its parameter combination (asv's reprs)."""

    asv_name: str
    params: Tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``name(p1, p2)``, as asv prints it."""
        return self.asv_name + (f"({', '.join(self.params)})" if self.params else "")


@dataclass(frozen=True)
class Build:
    """One commit made importable: the asv environment's interpreter and the unpacked wheel."""

    python: str
    site: Path


@dataclass
class Pairs:
    """The block pairs of one target: {process pair: [(baseline value, current value), ...]} and
    the problems met (a failure, a skip), one line each."""

    values: List[List[Tuple[float, float]]] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)
    cpus: List[List[int]] = field(default_factory=list)  # the CPU cores of each process pair's measurement
    seconds: List[float] = field(default_factory=list)  # each process pair's wall time on it, set-ups included


def all_cores() -> List[int]:
    """Every CPU core this process may use (empty where the platform cannot tell)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def pairs_at_once() -> int:
    """How many process pairs measure at the same time: one per allowed core."""
    return max(1, len(all_cores()))


def pair_cores(process_pair: int) -> List[int]:
    """The one CPU core (as a list) both processes of `process_pair` run on: the allowed cores in turn."""
    allowed = all_cores()
    return [allowed[process_pair % len(allowed)]] if allowed else []


def unpack_builds(env_dir: Path, commits: Mapping[str, str], scratch: Path) -> Dict[str, Build]:
    """{role: Build} of each commit: its wheel in an asv environment's build cache under `env_dir`
    (``<env>/asv-build-cache/<hash>/*.whl``, as the first pass left it), unpacked into `scratch`."""
    for env in sorted(Path(p) for p in glob.glob(str(Path(env_dir) / "*"))):
        wheels = {role: sorted((env / "asv-build-cache" / commit).glob("*.whl")) for role, commit in commits.items()}
        python = env / "bin" / "python"
        if python.is_file() and all(wheels.values()):
            builds = {}
            for role, found in wheels.items():
                site = scratch / f"build-{commits[role][:12]}"
                if not site.is_dir():
                    with zipfile.ZipFile(found[-1]) as wheel:
                        wheel.extractall(site)
                builds[role] = Build(str(python), site)
            return builds
    raise PairedError(f"no asv environment under {env_dir} holds the builds of "
                      + " and ".join(c[:8] for c in commits.values()))


class _Worker:
    """One benchmark process of one commit (see :mod:`memory.benchmarking.pairworker`)."""

    def __init__(self, build: Build, benchmark_dir: Path, env: Mapping[str, str], cpus: Sequence[int] = ()):
        extra = os.environ.get("ASV_PYTHONPATH")  # what asv adds to its benchmark processes' path
        path = os.pathsep.join([str(build.site)] + ([extra] if extra else []))
        pin = [",".join(map(str, cpus))] if cpus and hasattr(os, "sched_setaffinity") else []
        self.cpus = list(cpus) if pin else all_cores()
        self.pinned = self.cpus != all_cores()  # on fewer cores than allowed: no room for a parallel benchmark
        self.proc = subprocess.Popen([build.python, "-u", str(WORKER), str(benchmark_dir)] + pin,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=dict(env, PYTHONPATH=path,
                                                         **{TRACK_SAMPLES_ENV: str(TRACK_BLOCK_SAMPLES)}))
        self.selector = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)

    def ask(self, **request) -> Dict:
        """Send one request; its answer, or {"error": ...} when the process died or timed out."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return {"error": "the benchmark process has exited", "dead": True}
        if not self.selector.select(REQUEST_TIMEOUT_SECONDS):
            self.kill()
            return {"error": f"no answer within {REQUEST_TIMEOUT_SECONDS:.0f} s", "dead": True}
        line = self.proc.stdout.readline()
        if not line:
            return {"error": f"the benchmark process exited ({self.proc.wait()})", "dead": True}
        return json.loads(line)

    def close(self) -> None:
        """Tear down and end the process (killed when it does not end within 10 s)."""
        if self.proc.poll() is None:
            self.ask(op="close", exit=True)
            try:
                self.proc.stdin.close()  # type: ignore[union-attr]
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        self.selector.close()

    def kill(self) -> None:
        """End the process now."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _sample(worker: _Worker, number: Optional[int]) -> Tuple[Optional[float], Optional[str], bool]:
    """(value, problem, dead) of one sample (`number` calls of a time benchmark; None: a track)."""
    answer = worker.ask(op="run", number=number)
    if "error" in answer:
        return None, answer["error"], bool(answer.get("dead"))
    return float(answer["value"]), None, False


def _load(worker: _Worker, target: Target, role: str, out: Pairs) -> Optional[Dict]:
    """Set `target` up in `worker`; its answer, or None (the problem noted in `out`)."""
    answer = worker.ask(op="load", name=target.asv_name, params=list(target.params),
                        attributes={"repeat": 1, "warmup_time": 0.0, "number": 0},
                        pinned=worker.pinned)
    if "error" in answer or answer.get("skipped"):
        out.problems.append(f"{role}: {answer.get('error') or 'skipped'}")
        return None
    return answer


def block_order(roles: Tuple[str, str], index: int, seed: str) -> Tuple[str, str]:
    """The commit block pair `index` measures first, then the other: block pairs 2k and 2k + 1 hold
    both orders (drift within them cancels), which one first drawn at random per k, seeded by `seed`.
    A safeguard: strict alternation could keep two process pairs measuring at once (samples of
    similar length, as calibrated) in lockstep, one's baseline beside the other's current, so what a
    real change on one core does to the machine would line up with one commit on the other; drawn
    at random, nothing lines up. (Tested in lockstep, no such lean showed: README.)"""
    flip = random.Random(f"{seed}:{index // 2}").random() < 0.5
    return roles if (index % 2 == 0) != flip else (roles[1], roles[0])


def _measure_target(target: Target, workers: Dict[str, _Worker], out: Pairs, lead: str = "baseline",
                    seed: str = "") -> str:
    """One process pair's block pairs of `target` into `out`, and the seconds that took: "ok",
    "dead" (a process died), or "parallel" (a benchmark declaring ``parallel`` met processes pinned
    to one core: not measured, no seconds). The `lead` role is set up first and calibrates; callers
    alternate it between process pairs, so whatever going first does to a process points the other
    way in the next pair."""
    started = time.monotonic()
    outcome = _measure_blocks(target, workers, out, lead, f"{target.label}|{seed}")
    if outcome != "parallel":
        out.seconds.append(round(time.monotonic() - started, 3))
    return outcome


def _measure_blocks(target: Target, workers: Dict[str, _Worker], out: Pairs, lead: str, seed: str) -> str:
    roles = (lead, "current" if lead == "baseline" else "baseline")
    first = _load(workers[roles[0]], target, roles[0], out)
    if first is None:
        return "ok" if workers[roles[0]].proc.poll() is None else "dead"
    cpus = workers[roles[0]].cpus
    if first.get("parallel") and workers[roles[0]].pinned:
        return "parallel"
    # the first sample calibrates a time benchmark's `number` (asv's way); both commits then use it
    calibrated = workers[roles[0]].ask(op="run")
    if "error" in calibrated:
        out.problems.append(f"{roles[0]}: {calibrated['error']}")
        return "dead" if calibrated.get("dead") else "ok"
    number = int(calibrated.get("number") or 1) if first.get("type") == "time" else None
    if _load(workers[roles[1]], target, roles[1], out) is None:
        return "ok" if workers[roles[1]].proc.poll() is None else "dead"
    # its warm-up, not kept: the same calibrating sample, so both processes have the same history
    _, problem, dead = _sample(workers[roles[1]], None)
    if problem:
        out.problems.append(f"{roles[1]}: {problem}")
        return "dead" if dead else "ok"
    pairs: List[Tuple[float, float]] = []
    started = time.monotonic()
    while len(pairs) < MAX_PAIRS and (len(pairs) < MIN_PAIRS or time.monotonic() - started < PAIR_BUDGET_SECONDS):
        order = block_order(roles, len(pairs), seed)
        got: Dict[str, float] = {}
        for role in order:
            value, problem, dead = _sample(workers[role], number)
            if problem:
                out.problems.append(f"{role}: {problem}")
                if pairs:
                    out.values.append(pairs)
                    out.cpus.append(cpus)
                return "dead" if dead else "ok"
            got[role] = value  # type: ignore[assignment]
        pairs.append((got["baseline"], got["current"]))
    out.values.append(pairs)
    out.cpus.append(cpus)
    return "ok"


def _spawn(builds: Mapping[str, Build], benchmark_dir: Path, env: Mapping[str, str],
           cpus: Sequence[int]) -> Dict[str, _Worker]:
    return {role: _Worker(builds[role], benchmark_dir, env, cpus) for role in ("baseline", "current")}


def _end(workers: Optional[Dict[str, _Worker]], kill: bool = False) -> None:
    for worker in (workers or {}).values():
        if kill:
            worker.kill()
        worker.close()


@dataclass(frozen=True)
class _Round:
    """One process pair's part of a confirmation: which pair it is, its core(s), its lead."""

    index: int
    of: int
    cores: Tuple[int, ...]
    lead: str

    def say(self, where: str, number: int, todo: Sequence[Target], target: Target) -> str:
        return f"confirm: process pair {self.index + 1}/{self.of} ({where}), {number}/{len(todo)} {target.label}"


def _pinned_round(run: _Round, todo: Sequence[Target], builds: Mapping[str, Build], benchmark_dir: Path,
                  env: Mapping[str, str], progress: Callable[[str], None], stop: threading.Event
                  ) -> Tuple[Dict[Target, Pairs], List[Target]]:
    """One process pair on its core measures `todo` in turn: ({target: its Pairs}, the targets that
    declare ``parallel``, left for a pair of their own on every core)."""
    measured = {target: Pairs() for target in todo}
    parallel: List[Target] = []
    workers: Optional[Dict[str, _Worker]] = None
    where = f"CPU {','.join(map(str, run.cores)) or 'any'}"
    try:
        for number, target in enumerate(todo, 1):
            if stop.is_set():
                break
            if workers is None:
                workers = _spawn(builds, benchmark_dir, env, run.cores)
            progress(run.say(where, number, todo, target))
            outcome = _measure_target(target, workers, measured[target], run.lead, str(run.index))
            if outcome == "parallel":
                parallel.append(target)
            elif outcome == "dead":
                _end(workers, kill=True)
                workers = None
    finally:
        _end(workers)
    return measured, parallel


def _parallel_round(run: _Round, todo: Sequence[Target], targets: Sequence[Target], builds: Mapping[str, Build],
                    benchmark_dir: Path, env: Mapping[str, str], progress: Callable[[str], None],
                    measured: Dict[Target, Pairs]) -> None:
    """Each of `targets` (declaring ``parallel``) in a fresh pair of processes on every core, alone."""
    for target in targets:
        progress(run.say("every CPU: it runs in parallel", todo.index(target) + 1, todo, target))
        workers = _spawn(builds, benchmark_dir, env, ())
        outcome = "dead"
        try:
            outcome = _measure_target(target, workers, measured[target], run.lead, str(run.index))
        finally:
            _end(workers, kill=outcome == "dead")


def measure_pairs(targets: Sequence[Target], builds: Mapping[str, Build], benchmark_dir: Path,
                  env: Mapping[str, str], progress: Callable[[str], None] = lambda line: None,
                  process_pairs: int = PROCESS_PAIRS,
                  still_open: Callable[[Target, Pairs], bool] = lambda target, pairs: True,
                  at_once: Optional[int] = None) -> Dict[Target, Pairs]:
    """Measure every target in `process_pairs` fresh pairs of processes (baseline, current), block
    against block, the processes of pair i started on core :func:`pair_cores` (i); a benchmark that
    declares ``parallel`` gets a pair of its own on every core, with nothing else running.
    {target: its Pairs}. `at_once` pairs (default: one per allowed core) measure at the same time,
    each on its own core, so the pass takes a fraction of the time while the two processes that are
    compared still share theirs. A target for which `still_open` says the verdict is already settled
    is not measured again; a process that dies is replaced for the next target."""
    results = {target: Pairs() for target in targets}
    width = max(1, at_once or pairs_at_once())
    stop = threading.Event()
    for first in range(0, process_pairs, width):
        todo = [t for t in targets if still_open(t, results[t])]
        if not todo:
            break
        runs = [_Round(i, process_pairs, tuple(pair_cores(i)), "baseline" if i % 2 == 0 else "current")
                for i in range(first, min(first + width, process_pairs))]
        with ThreadPoolExecutor(max_workers=len(runs)) as pool:
            futures = [pool.submit(_pinned_round, run, todo, builds, benchmark_dir, env, progress, stop)
                       for run in runs]
            try:
                done = [future.result() for future in futures]
            except BaseException:
                stop.set()  # the other pairs end after their current target
                raise
        for run, (measured, parallel) in zip(runs, done):
            _parallel_round(run, todo, parallel, builds, benchmark_dir, env, progress, measured)
        for measured, _ in done:  # in process-pair order, whichever pair finished first
            for target, pairs in measured.items():
                results[target].values += pairs.values
                results[target].cpus += pairs.cpus
                results[target].problems += pairs.problems
                results[target].seconds += pairs.seconds
    return results


def relative_changes(pairs: Sequence[Tuple[float, float]], percent: bool) -> List[float]:
    """Each pair's change of current against baseline: relative, or in percentage points / 100 for
    an overhead in percent near zero (as :func:`memory.benchmarking.verdict.judge` compares those)."""
    return [metric_change(base, cur, in_points(percent, base)) for base, cur in pairs]
