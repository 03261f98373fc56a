"""The confirmation pass of ``cli continuous``: every flagged timing re-measured block against block.

On this kind of machine the same code runs in fast and slow phases lasting seconds (one read
benchmark: 5.7 µs and 9-10 µs per call, alternating within one process, in wall and in CPU time
alike), so samples taken a minute apart, as asv's interleaved rounds take them, disagree by 50 %
whichever commit they belong to. Here both commits run at once, each in its own process (its asv
build unpacked on ``PYTHONPATH``, the environment's interpreter, the same benchmark suite), and a
coordinator asks them for one sample each in turn, the order alternating: the two samples of a pair
are milliseconds apart, so they share the machine's phase and their ratio does not. Several such
process pairs guard against a process slow for its whole life.

The two processes of a pair share one CPU core (process pair i: the i-th allowed core, round
robin): on cores of their own, a storage timing of identical code spread by 77 % across process
pairs (median absolute deviation of their medians), 4 % on a shared core. Each process pins itself
before it imports anything: one moved there after its benchmark was set up stayed up to 40x slower
on a 0.5 ms encode for the rest of its life. Which commit is set up first alternates between
process pairs, so whatever leading does cannot point the same way in every pair. A benchmark that
declares ``parallel = True`` (its timed body runs threads or processes) is measured in a pair of
processes of its own, on every core. :func:`memory.benchmarking.verdict.paired_verdict` judges the
pairs.
"""

from __future__ import annotations

import glob
import json
import os
import selectors
import subprocess
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .verdict import metric_change

#: Process pairs per confirmation, and block pairs each measures of one flagged timing: at most
#: MAX_PAIRS, at least MIN_PAIRS, as many as fit in PAIR_BUDGET_SECONDS. The process pair is the
#: unit of independent replication (block pairs within one share its life): a process-level effect
#: favours one side in all of three pairs by chance 1 time in 4, in all of five 1 in 16. A
#: candidate is measured again only while it still could be confirmed, so most A/A candidates stop
#: after two.
PROCESS_PAIRS = 5
MIN_PAIRS = 3
MAX_PAIRS = 8
PAIR_BUDGET_SECONDS = 1.5
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


def all_cores() -> List[int]:
    """Every CPU core this process may use (empty where the platform cannot tell)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


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
        self.proc = subprocess.Popen([build.python, "-u", str(WORKER), str(benchmark_dir)] + pin,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=dict(env, PYTHONPATH=path))
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
                        attributes={"repeat": 1, "warmup_time": 0.0, "number": 0})
    if "error" in answer or answer.get("skipped"):
        out.problems.append(f"{role}: {answer.get('error') or 'skipped'}")
        return None
    return answer


def _measure_target(target: Target, workers: Dict[str, _Worker], out: Pairs, lead: str = "baseline") -> str:
    """One process pair's block pairs of `target` into `out`: "ok", "dead" (a process died), or
    "parallel" (a benchmark declaring ``parallel`` met processes pinned to one core: not measured).
    The `lead` role is set up first and calibrates; callers alternate it between process pairs, so
    whatever going first does to a process points the other way in the next pair."""
    roles = (lead, "current" if lead == "baseline" else "baseline")
    first = _load(workers[roles[0]], target, roles[0], out)
    if first is None:
        return "ok" if workers[roles[0]].proc.poll() is None else "dead"
    cpus = workers[roles[0]].cpus
    if first.get("parallel") and cpus != all_cores():
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
        order = roles if len(pairs) % 2 == 0 else roles[::-1]
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


def measure_pairs(targets: Sequence[Target], builds: Mapping[str, Build], benchmark_dir: Path,
                  env: Mapping[str, str], progress: Callable[[str], None] = lambda line: None,
                  process_pairs: int = PROCESS_PAIRS,
                  still_open: Callable[[Target, Pairs], bool] = lambda target, pairs: True) -> Dict[Target, Pairs]:
    """Measure every target in `process_pairs` fresh pairs of processes (baseline, current), block
    against block, the processes of pair i started on core :func:`pair_cores` (i); a benchmark that
    declares ``parallel`` gets a pair of its own on every core. {target: its Pairs}. A target for
    which `still_open` says the verdict is already settled is not measured again; a process that
    dies is replaced for the next target."""
    results = {target: Pairs() for target in targets}
    for round_index in range(process_pairs):
        workers: Optional[Dict[str, _Worker]] = None
        cores = pair_cores(round_index)
        lead = "baseline" if round_index % 2 == 0 else "current"
        todo = [t for t in targets if still_open(t, results[t])]
        try:
            for number, target in enumerate(todo, 1):
                if workers is None:
                    workers = _spawn(builds, benchmark_dir, env, cores)
                where = f"CPU {','.join(map(str, cores)) or 'any'}"
                progress(f"confirm: process pair {round_index + 1}/{process_pairs} "
                         f"({where}), {number}/{len(todo)} {target.label}")
                outcome = _measure_target(target, workers, results[target], lead)
                if outcome == "parallel":  # pinned processes cannot show its parallelism: a pair on every core
                    progress(f"confirm: process pair {round_index + 1}/{process_pairs} "
                             f"(every CPU: it runs in parallel), {number}/{len(todo)} {target.label}")
                    _end(workers)
                    workers = _spawn(builds, benchmark_dir, env, ())
                    outcome = _measure_target(target, workers, results[target], lead)
                    _end(workers, kill=outcome == "dead")
                    workers = None
                elif outcome == "dead":
                    _end(workers, kill=True)
                    workers = None
        finally:
            _end(workers)
    return results


def relative_changes(pairs: Sequence[Tuple[float, float]], percent: bool) -> List[float]:
    """Each pair's change of current against baseline: relative, or in percentage points / 100 for
    an overhead in percent near zero (as :func:`memory.benchmarking.verdict.judge` compares those)."""
    return [metric_change(base, cur, percent and abs(base) <= 100.0) for base, cur in pairs]
