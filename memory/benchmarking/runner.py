"""BenchmarkRunner: discover the asv suite's benchmarks and run them through asv on the installed code.

Each documented benchmark (one asv class, see :mod:`memory.benchmarking.naming`) runs as
``asv run --python=same --set-commit-hash HEAD --bench '^<its asv names>$'`` in a private results
directory, with the configuration handed over in ``AGENTMEMORY_BENCH_CONFIG``. The adapter then writes
``<output_dir>/<category>/<benchmark>_<timestamp>.json`` and the asv results are merged into the
project's asv store (``.asv/results``), so ``asv publish`` shows them too. Parallel runs spread the
benchmarks over worker processes.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.connection
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from memory.errors import ConfigError

from . import asv_adapter, naming
from .asvrun import (ERROR_LINE, STATUS_LINE, ensure_asv_machine, git_head, merge_into_store,
                     Terminated, parse_asv_errors, pid_alive, resolve_asv_name, scratch_repo, sigterm_raises,
                     stream_lines)
from .config import (CATEGORIES, CONFIG_ENV, OPT_IN_CATEGORIES, PROFILE_ENV, BenchmarkConfig, default_categories,
                     require_category)
from .documents import (ResultsError, new_document, read_document, stability_lines, unstable_timings,
                        write_new_document)
from .results import BenchmarkResults

RUN_TIMEOUT_SECONDS = 3 * 3600
#: Where the suite's benchmark processes log every Redis namespace they create (benchmarks/common.py
#: reads the same variable), so the runner can remove what a failed or killed process left behind.
NAMESPACE_LOG_ENV = "AGENTMEMORY_BENCH_NAMESPACE_LOG"
REDIS_URL_ENV = "AGENTMEMORY_BENCH_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
_NAMESPACE = re.compile(r"asvbench-[A-Za-z0-9_.-]{6,}")
_NAMESPACE_PID = re.compile(r"asvbench-(?:probe-)?(\d+)-")


#: Suffix of the env_dir where asv builds the virtualenvs of runs that include an opt-in category
#: (``.asv/env`` -> ``.asv/env-peers``): their matrix adds the peers' packages, the normal
#: environments stay as they are.
PEER_ENV_SUFFIX = "-peers"


def peer_environment_conf(conf: Dict[str, Any], names: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """A copy of asv configuration `conf` for runs of the implementations category in virtualenvs asv
    builds (``cli continuous``, ``asv run COMMITS``): the pip packages of the peers `names` (default:
    all, ``memory.benchmarking.peers.requirements``) added to ``matrix.req`` at any version, and
    ``env_dir`` a folder of its own beside the usual one. ``cli run`` measures the running
    interpreter (``--python=same``): there the peers come from ``pip install 'agentmemory[peers]'``."""
    from .peers import NAMES, requirements

    out = json.loads(json.dumps(conf))
    req = out.setdefault("matrix", {}).setdefault("req", {})
    for package in requirements(list(names) if names is not None else NAMES):
        req.setdefault(package, [""])
    env_dir = Path(out.get("env_dir", "env"))
    out["env_dir"] = str(env_dir.parent / (env_dir.name + PEER_ENV_SUFFIX))
    return out


def conf_for_categories(conf: Dict[str, Any], categories: Optional[Sequence[str]]) -> Dict[str, Any]:
    """`conf` as it is, or :func:`peer_environment_conf` of it when `categories` name an opt-in category."""
    return peer_environment_conf(conf) if set(categories or ()) & set(OPT_IN_CATEGORIES) else conf


class RunnerError(Exception):
    """A run cannot start: unknown category or benchmark, no asv suite, bad parameters."""


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one, else the count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def worker_count(requested: int, total: int, cores: Optional[int] = None) -> int:
    """Worker processes for `total` benchmarks: at most `requested`, one per benchmark and one per CPU
    core (benchmark processes beyond the cores only slow each other down, until Redis replies time out)."""
    return max(1, min(int(requested), int(total), cores or available_cores()))


def logged_namespaces(log_paths: Sequence[os.PathLike]) -> List[str]:
    """The suite's Redis namespaces listed in the logs (``asvbench-...`` lines only: never a pattern)."""
    found: List[str] = []
    for path in log_paths:
        try:
            lines = Path(path).read_text(encoding="utf-8", errors="replace").split()
        except OSError:
            continue
        found += [line for line in lines if _NAMESPACE.fullmatch(line) and line not in found]
    return found


def _process_alive(namespace: str) -> bool:
    """True when the process whose pid the namespace names still runs (its keys may be in use)."""
    match = _NAMESPACE_PID.match(namespace)
    return bool(match) and pid_alive(int(match.group(1)))  # another user's, or cannot tell: leave it


def sweep_namespaces(namespaces: Sequence[str], url: Optional[str] = None) -> Tuple[int, int]:
    """Delete the Redis keys of `namespaces` whose process has ended (a benchmark that failed, timed
    out or was killed before its teardown); return (keys removed, namespaces that had keys). Nothing
    to do, no redis package or no server: (0, 0), with a warning when the server does not answer."""
    ended = {ns for ns in namespaces if not _process_alive(ns)}
    if not ended:
        return 0, 0
    try:
        import redis
    except ImportError:
        return 0, 0
    url = url or os.environ.get(REDIS_URL_ENV, "").strip() or DEFAULT_REDIS_URL
    try:
        client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)
        try:
            keys = [k for k in client.scan_iter(match="*asvbench-*", count=1000)
                    if any(ns in k.decode("utf-8", "replace") for ns in ended)]
            for start in range(0, len(keys), 500):
                client.delete(*keys[start:start + 500])
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError) as exc:
        from memory.config import redact

        print(f"warning: could not remove the Redis keys of {len(ended)} benchmark namespace(s) at "
              f"{redact(url)}: {type(exc).__name__}", file=sys.stderr)
        return 0, 0
    owners = {ns for ns in ended for k in keys if ns in k.decode("utf-8", "replace")}
    return len(keys), len(owners)


def sweep_postgres_rows(namespaces: Sequence[str], url: Optional[str] = None) -> int:
    """Delete the PostgreSQL LTM rows of `namespaces` whose process has ended, as sweep_namespaces their Redis
    keys; return how many. No psycopg: 0; a server that does not answer: 0 and one warning line (2 s at most)."""
    ended = sorted(ns for ns in namespaces if not _process_alive(ns))
    if not ended:
        return 0
    try:
        import psycopg  # noqa: F401 - only probing: no psycopg, no PostgreSQL LTM to clean
    except ImportError:
        return 0
    from memory.errors import StorageError
    from memory.stores.postgres import delete_namespaces

    from .config import DEFAULT_POSTGRES_URL, POSTGRES_URL_ENV

    try:
        return delete_namespaces(url or os.environ.get(POSTGRES_URL_ENV, "").strip() or DEFAULT_POSTGRES_URL, ended)
    except StorageError as exc:  # its message names the URL, password masked
        print(f"warning: {exc} (left by benchmark processes that ended)", file=sys.stderr)
        return 0


def sweep_leftovers(log_paths: Sequence[os.PathLike]) -> List[str]:
    """Remove the Redis keys and PostgreSQL rows of the namespaces logged in `log_paths` whose process
    ended before its teardown (every process of the run has ended); one progress line per kind removed."""
    namespaces = logged_namespaces(log_paths)
    removed, owners = sweep_namespaces(namespaces)
    rows = sweep_postgres_rows(namespaces)
    lines = []
    if removed:
        lines.append(f"removed {removed} Redis key(s) left behind by {owners} benchmark namespace(s) "
                     "(benchmark processes that failed or were killed before their teardown)")
    if rows:
        lines.append(f"removed {rows} PostgreSQL row(s) left behind by benchmark processes that failed or "
                     "were killed before their teardown")
    return lines


@dataclass(frozen=True)
class BenchSpec:
    """One documented benchmark to run: its asv benchmarks (infos from discovery) and the config
    section recorded as its ``metadata.params``."""

    category: str
    benchmark: str
    asv_names: Tuple[str, ...]
    infos: List[Dict[str, Any]]
    params: Dict[str, Any]

    @property
    def key(self) -> str:
        """``category/benchmark``, the key of progress events and ``completed_benchmarks``."""
        return f"{self.category}/{self.benchmark}"


@dataclass(frozen=True)
class GroupTask:
    """The benchmarks one ``asv run`` measures (one worker process each when parallel, so it is
    pickled: plain data only) and where their results go."""

    conf_path: str
    config: Dict[str, Any]  # BenchmarkConfig.to_dict()
    output_dir: str
    benchmarks: Tuple[BenchSpec, ...]
    extra_metadata: Dict[str, Any] = field(default_factory=dict)
    private_home: bool = False  # a HOME of its own, so concurrent runs never share ~/.asv-machine.json
    namespace_log: Optional[str] = None  # where the suite logs the Redis namespaces it creates
    timeout_seconds: float = RUN_TIMEOUT_SECONDS


class _GroupTracker:
    """Which benchmarks of a group asv has measured, from its status lines; sends "measured" events."""

    def __init__(self, benches: Sequence[BenchSpec], events: Any):
        self.started = time.monotonic()
        self.owner = {name: bench.key for bench in benches for name in bench.asv_names}
        self.names = list(self.owner)
        self.pending = {bench.key: set(bench.asv_names) for bench in benches}
        self.finished_at: Dict[str, float] = {}
        self.events = events

    def feed(self, line: str) -> None:
        """Note one line of asv's output; the last asv benchmark of a documented one finishes it."""
        found = STATUS_LINE.match(line.strip())
        name = resolve_asv_name(found.group(1), self.names) if found else None
        if name is None:
            return
        key = self.owner[name]
        self.pending[key].discard(name)
        if self.pending[key] or key in self.finished_at:
            return
        self.finished_at[key] = time.monotonic()
        if self.events is not None:
            self.events.put({"key": key, "event": "measured", "elapsed_seconds": self.elapsed(key)})

    def elapsed(self, key: Optional[str] = None) -> float:
        """Seconds from the group's start until benchmark `key` was measured (else until now)."""
        end = self.finished_at.get(key, time.monotonic()) if key else time.monotonic()
        return end - self.started

    def outcome(self, bench: BenchSpec, path: Optional[str], error: Optional[str],
                until_measured: bool = True) -> Dict[str, Any]:
        """The result of one benchmark as execute_group returns it; its time runs until asv measured
        it, or until now (`until_measured` False: the group failed)."""
        return {"key": bench.key, "path": path, "error": error, "worker_pid": os.getpid(),
                "elapsed_seconds": self.elapsed(bench.key if until_measured else None)}


@dataclass(frozen=True)
class _Workspace:
    """A group's scratch asv project: the project, the private asv.conf.json, the commit measured."""

    project: asv_adapter.AsvProject
    scratch: Path
    conf_path: Path
    commit: str
    real_commit: bool  # False: a scratch commit of a repository without commits (nothing to store)


def _workspace(task: GroupTask, scratch: Path, extra: Dict[str, Any]) -> _Workspace:
    """Write the config and a private asv.conf.json (its own results dir) into `scratch`; a repository
    without commits gets a scratch commit, noted in `extra`."""
    project = asv_adapter.load_project(task.conf_path)
    (scratch / "benchmark_config.json").write_text(json.dumps(task.config, indent=2), encoding="utf-8")
    commit = git_head(project.repo)
    conf = project.private_conf(scratch / "results", scratch / "html")
    real_commit = commit is not None
    if commit is None:  # a repository without commits: attribute results to a scratch commit
        commit = scratch_repo(scratch / "repo")
        conf.update(repo=str(scratch / "repo"), branches=["main"])
        extra.update(commit=None, commit_note="the repository has no commit; asv results were not stored")
    conf_path = scratch / "asv.conf.json"
    conf_path.write_text(json.dumps(conf, indent=2), encoding="utf-8")
    ensure_asv_machine(conf_path)
    return _Workspace(project, scratch, conf_path, commit, real_commit)


def _asv_env(task: GroupTask, scratch: Path) -> Dict[str, str]:
    """The environment of the group's ``asv run``: the config file, the profile, the namespace log."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if task.private_home:
        # Every `asv run` rewrites ~/.asv-machine.json; concurrent workers would read it half
        # written. Give each worker its own copy (a private HOME for the asv process).
        home = scratch / "home"
        home.mkdir()
        machine_file = Path.home() / ".asv-machine.json"
        if machine_file.is_file():
            shutil.copy2(machine_file, home / ".asv-machine.json")
        env["HOME"] = str(home)
    env[CONFIG_ENV] = str(scratch / "benchmark_config.json")
    env[PROFILE_ENV] = task.config.get("profile", "default")
    if task.namespace_log:
        env[NAMESPACE_LOG_ENV] = task.namespace_log
    return env


def _run_asv(task: GroupTask, workspace: _Workspace, tracker: _GroupTracker) -> List[str]:
    """Run ``asv run`` on the group's benchmarks, feeding `tracker`; return its output lines (a
    TimeoutError line last when it ran past the task's timeout and was killed)."""
    # asv matches parameterised benchmarks as "name(p1, p2)": allow the parenthesised suffix.
    regex = "^(" + "|".join(re.escape(n) for n in tracker.names) + r")(\(.*\))?$"
    cmd = [sys.executable, "-m", "asv", "run", "--python=same", "--set-commit-hash", workspace.commit,
           "--bench", regex, "--config", str(workspace.conf_path), "--show-stderr", "--record-samples"]
    _, lines, timed_out = stream_lines(cmd, _asv_env(task, workspace.scratch), workspace.project.root,
                                       tracker.started + task.timeout_seconds, tracker.feed)
    if timed_out:
        lines.append(f"TimeoutError: asv run exceeded {task.timeout_seconds} s")
    return lines


def _save_error_document(output_dir: str, bench: BenchSpec, error: str, extra: Dict[str, Any]) -> Optional[str]:
    """Write the result document of a benchmark asv left no result for (``error`` says why); its path,
    or None when the output directory itself is unusable."""
    document = new_document(bench.benchmark, bench.category, {}, dict(extra, params=bench.params), error=error)
    try:
        return write_new_document(output_dir, document)
    except Exception:  # noqa: BLE001 - the output dir itself is unusable
        return None


def _export_benchmark(task: GroupTask, bench: BenchSpec, result_file: Optional[Path], errors: Dict[str, str],
                      tail: List[str], extra: Dict[str, Any]) -> Tuple[Optional[str], Optional[str]]:
    """Export one benchmark of the group from asv's result file (with the errors asv printed for it),
    else write its error document; (path, error)."""
    own = [f"{name.split('.')[-1]}: {message}" for name, message in errors.items() if name in bench.asv_names]
    message = "; ".join(own) or None
    if result_file is not None:
        written = asv_adapter.export_results(
            [result_file], task.output_dir, infos=bench.infos, only=[(bench.category, bench.benchmark)],
            params=bench.params, errors={bench.key: message} if message else None, extra_metadata=extra)
        if written:
            return written[0], json.loads(Path(written[0]).read_text(encoding="utf-8")).get("error")
    last_error = next((ln for ln in reversed(tail) if ERROR_LINE.match(ln)), tail[-1] if tail else "")
    error = message or f"asv run produced no result: {last_error}"
    return _save_error_document(task.output_dir, bench, error, dict(extra, asv_output_tail=tail)), error


def _measure_group(task: GroupTask, scratch: Path, extra: Dict[str, Any], tracker: _GroupTracker,
                   outcomes: List[Dict[str, Any]]) -> None:
    """execute_group's work: run asv in `scratch`, export each benchmark into `outcomes`, then merge
    asv's results into the project's store."""
    workspace = _workspace(task, scratch, extra)
    lines = _run_asv(task, workspace, tracker)
    files = [p for p in (scratch / "results").glob("*/*.json") if p.name != "machine.json"]
    errors = parse_asv_errors("\n".join(lines), tracker.names)
    tail = [ln.strip() for ln in lines if ln.strip()][-20:]
    for bench in task.benchmarks:
        path, error = _export_benchmark(task, bench, files[0] if files else None, errors, tail, extra)
        outcomes.append(tracker.outcome(bench, path, error))
    if files and workspace.real_commit:
        try:
            merge_into_store(files[0], scratch / "results", workspace.project.results_dir)
        except (OSError, ValueError) as exc:
            print(f"warning: could not merge results into {workspace.project.results_dir}: {exc}",
                  file=sys.stderr)


def execute_group(task: GroupTask, events: Any = None) -> List[Dict[str, Any]]:
    """Run a group of documented benchmarks in one ``asv run`` and export one JSON per benchmark
    (also in a worker process). `events` (a queue) receives a dict per finished benchmark.
    Returns [{key, path, error, elapsed_seconds, worker_pid}], one per benchmark, whatever failed."""
    tracker = _GroupTracker(task.benchmarks, events)
    outcomes: List[Dict[str, Any]] = []
    scratch = Path(tempfile.mkdtemp(prefix="agentmemory-bench-"))
    extra = dict(task.extra_metadata)
    try:
        _measure_group(task, scratch, extra, tracker, outcomes)
    except Exception as exc:  # never let one group stop the run: every benchmark gets its error
        error = f"{type(exc).__name__}: {exc}"
        done = {o["key"] for o in outcomes}
        outcomes += [tracker.outcome(bench, _save_error_document(task.output_dir, bench, error, extra), error,
                                     until_measured=False) for bench in task.benchmarks if bench.key not in done]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if events is not None:
        for outcome in outcomes:
            events.put(dict(outcome, event="done"))
    return outcomes


class _RunEvents:
    """The events of a run's groups (a queue's ``put``) become the runner's progress lines and its
    ``running_benchmarks`` / ``completed_benchmarks``; `paths` collects the JSON files written."""

    def __init__(self, runner: "BenchmarkRunner", benches: Sequence[BenchSpec]):
        self.runner, self.total = runner, len(benches)
        self.start = time.monotonic()
        self.measured: List[str] = []
        self.paths: List[str] = []
        for bench in benches:
            runner.running_benchmarks[bench.key] = self.start

    def put(self, event: Dict[str, Any]) -> None:
        """Take one event: "measured" (asv finished it) or "done" (its JSON is written, or it failed)."""
        key = event["key"]
        if event["event"] == "measured":
            self.measured.append(key)
            self.runner.progress(f"[{len(self.measured)}/{self.total}] {key} measured "
                                 f"({self.total - len(self.measured)} left; "
                                 f"elapsed {time.monotonic() - self.start:.1f}s)")
            return
        outcome = {k: v for k, v in event.items() if k != "event"}
        self.runner.running_benchmarks.pop(key, None)
        self.runner.completed_benchmarks[key] = outcome
        if outcome.get("path"):
            self.paths.append(outcome["path"])
        status = f"FAILED: {outcome['error']}" if outcome.get("error") else "ok"
        self.runner.progress(f"{key}: {status}" + (f" -> {outcome['path']}" if outcome.get("path") else ""))

    def worker_ended(self, exitcode: Optional[int], task: GroupTask) -> None:
        """A worker process ended: when it died (exit code not 0), its benchmarks not yet done fail."""
        if exitcode == 0:
            return
        how = f"killed by signal {-exitcode}" if exitcode is not None and exitcode < 0 else f"exit code {exitcode}"
        for bench in task.benchmarks:
            if bench.key not in self.runner.completed_benchmarks:
                self.put({"event": "done", "key": bench.key, "path": None,
                          "elapsed_seconds": time.monotonic() - self.start,
                          "error": f"worker failed: its process ended ({how})"})


def _drain(queue: Any, sink: _RunEvents) -> None:
    import queue as queue_module
    while True:
        try:
            item = queue.get_nowait()
        except (queue_module.Empty, EOFError, OSError):
            return
        sink.put(item)


#: Seconds a worker process gets to stop its asv run and end once told to (SIGTERM), before SIGKILL.
WORKER_STOP_SECONDS = 30.0


def _worker_main(task: GroupTask, queue: Any) -> None:
    """A worker process's body: one group; SIGTERM or Ctrl-C stops its asv run and every benchmark
    process it started (see :func:`memory.benchmarking.asvrun.sigterm_raises`), then it exits quietly."""
    try:
        with sigterm_raises():
            execute_group(task, queue)
    except Terminated:
        sys.exit(143)
    except KeyboardInterrupt:
        sys.exit(130)


def _run_in_workers(tasks: Sequence[GroupTask], events: _RunEvents) -> None:
    """Run each task in a worker process of its own (spawned), passing their events on as they come.
    Interrupted (Ctrl-C, SIGTERM), it stops every worker and waits for them to end, then re-raises:
    their asv runs and benchmark processes end before the caller sweeps the keys they left."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        queue = manager.Queue()
        workers = {context.Process(target=_worker_main, args=(task, queue)): task for task in tasks}
        try:
            for proc in workers:
                proc.start()
            _collect(workers, queue, events)
        except BaseException:
            _stop(list(workers))
            raise
        _drain(queue, events)


def _collect(workers: Dict[Any, GroupTask], queue: Any, events: _RunEvents) -> None:
    """Pass the workers' events on until every worker process has ended (or died)."""
    remaining = set(workers)
    while remaining:
        ready = multiprocessing.connection.wait([proc.sentinel for proc in remaining], timeout=0.2)
        _drain(queue, events)  # a worker's events are all queued before it ends
        for proc in [proc for proc in remaining if proc.sentinel in ready]:
            proc.join()
            remaining.discard(proc)
            events.worker_ended(proc.exitcode, workers[proc])


def _stop(processes: Sequence[Any]) -> None:
    """SIGTERM to each started worker process still running; wait up to WORKER_STOP_SECONDS for all
    of them to end, then SIGKILL what is left."""
    started = [proc for proc in processes if proc.pid is not None]
    for proc in started:
        if proc.is_alive():
            proc.terminate()
    deadline = time.monotonic() + WORKER_STOP_SECONDS
    for proc in started:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.kill()
            proc.join()


def _apply_fields(config: BenchmarkConfig, values: Dict[str, Any], category: Optional[str]) -> None:
    """Apply ``{field: value}`` to `category`, or (None) each field to the one category that has it;
    ConfigError when none or several have it."""
    if category is not None:
        config.apply_overrides(values, category=category)
        return
    for name, value in values.items():
        owners = [c for c in CATEGORIES if hasattr(config.category(c), name)]
        if len(owners) != 1:
            raise ConfigError(f"unknown parameter {name!r}" if not owners else
                              f"parameter {name!r} is ambiguous ({', '.join(owners)}); "
                              "use {\"<category>\": {...}}")
        config.apply_overrides({name: value}, category=owners[0])


def _param_grid(infos: Sequence[Dict[str, Any]]) -> Dict[str, List[Any]]:
    """{parameter: its values} over the asv benchmarks of one documented benchmark (first seen first)."""
    grid: Dict[str, List[Any]] = {}
    for info in infos:
        for name, values in zip(info.get("param_names", []), info.get("params", [])):
            naming.extend_new(grid.setdefault(name, []), map(naming.parse_param_value, values))
    return grid


# ---- the runner --------------------------------------------------------------------------------


class BenchmarkRunner:
    """Discover and run the asv suite's benchmarks; results land in ``config.output_dir``."""

    def __init__(self, config: Optional[BenchmarkConfig] = None,
                 results_manager: Optional[BenchmarkResults] = None,
                 asv_config: Optional[str] = None, progress: Optional[Callable[[str], None]] = None):
        self.config = BenchmarkConfig.from_dict((config or BenchmarkConfig()).to_dict())
        if results_manager is not None:  # results go where the given manager looks
            self.config.output_dir = results_manager.results_dir
        self.results_manager = results_manager or BenchmarkResults(self.config.output_dir)
        self.asv_config = asv_config
        self.progress = progress or (lambda line: print(line, flush=True))
        self.running_benchmarks: Dict[str, float] = {}  # "category/benchmark" -> start (monotonic)
        self.completed_benchmarks: Dict[str, Dict[str, Any]] = {}  # key -> {path, error, elapsed_seconds}
        self._project: Optional[asv_adapter.AsvProject] = None
        self._catalog: Dict[str, Dict[str, Dict[str, Any]]] = {}

    # ---- discovery ----------------------------------------------------------------------------

    @property
    def project(self) -> asv_adapter.AsvProject:
        """The asv project (asv.conf.json) the runner uses."""
        if self._project is None:
            try:
                self._project = asv_adapter.load_project(self.asv_config)
            except ConfigError as exc:
                raise RunnerError(str(exc)) from None
        return self._project

    def _suite(self, config: BenchmarkConfig) -> Dict[str, Dict[str, List[Dict[str, Any]]]]:
        cache_key = json.dumps(config.to_dict(), sort_keys=True)
        if cache_key not in self._catalog:
            try:
                infos = asv_adapter.discover_configured(self.project.benchmark_dir, config)
            except asv_adapter.AdapterError as exc:
                raise RunnerError(str(exc)) from None
            self._catalog[cache_key] = asv_adapter.group_benchmarks(infos)
        return self._catalog[cache_key]

    def _category(self, category: str, config: BenchmarkConfig) -> Dict[str, List[Dict[str, Any]]]:
        """{benchmark: its asv infos} of `category` under `config`; RunnerError when it is unknown."""
        suite = self._suite(config)
        return suite[require_category(category, sorted(suite), RunnerError)]

    def discover_benchmarks(self, category: Optional[str] = None) -> Dict[str, Dict[str, Dict[str, Any]]]:
        """``{category: {benchmark_name: {"asv_benchmarks", "params", "doc"}}}`` of the asv suite,
        optionally of one category (RunnerError listing the valid ones when unknown)."""
        suite = self._suite(self.config)
        chosen = [category] if category is not None else sorted(suite)
        out: Dict[str, Dict[str, Dict[str, Any]]] = {}
        for cat in chosen:
            out[cat] = {bench: {"asv_benchmarks": [i["name"] for i in infos], "params": _param_grid(infos),
                                "doc": next((i.get("doc") for i in infos if i.get("doc")), "")}
                        for bench, infos in sorted(self._category(cat, self.config).items())}
        return out

    # ---- parameters ---------------------------------------------------------------------------

    def config_with_params(self, category: Optional[str], params: Optional[Dict[str, Any]]) -> BenchmarkConfig:
        """A copy of the config with `params` applied: ``{field: value}`` for `category`, or
        ``{category: {field: value}}``; ConfigError for unknown fields or wrong types."""
        config = BenchmarkConfig.from_dict(self.config.to_dict())
        if not params:
            return config
        if not isinstance(params, dict):
            raise ConfigError(f"params must be a JSON object; got {type(params).__name__}")
        sectioned = {k: v for k, v in params.items() if k in CATEGORIES}
        flat = {k: v for k, v in params.items() if k not in CATEGORIES}
        if sectioned:
            config.apply_overrides(sectioned)
        if flat:
            _apply_fields(config, flat, category)
        return config

    # ---- running ------------------------------------------------------------------------------

    def _bench(self, category: str, benchmark: str, config: BenchmarkConfig) -> BenchSpec:
        benches = self._category(category, config)
        if benchmark not in benches:
            raise RunnerError(f"unknown benchmark {benchmark!r} in category {category!r}; valid: "
                              f"{', '.join(sorted(benches))}")
        infos = benches[benchmark]
        recorded = json.loads(json.dumps(vars(config.category(category))))
        return BenchSpec(category, benchmark, tuple(i["name"] for i in infos), infos, recorded)

    def _run(self, benches: List[BenchSpec], config: BenchmarkConfig, params: Optional[Dict[str, Any]],
             parallel: bool, max_workers: int) -> List[str]:
        """Run `benches` (one asv invocation, or one per worker process); report progress; return paths."""
        workers = self._workers(parallel, max_workers, len(benches))
        extra = {"profile": config.profile, "param_overrides": params or {}, "parallel": bool(parallel),
                 "workers": workers}
        logs = Path(tempfile.mkdtemp(prefix="agentmemory-bench-ns-"))
        tasks = [GroupTask(conf_path=str(self.project.conf_path), config=config.to_dict(),
                           output_dir=config.output_dir, benchmarks=tuple(benches[i::workers]),
                           extra_metadata=extra, private_home=workers > 1,
                           namespace_log=str(logs / f"namespaces-{i}.log"))
                 for i in range(workers) if benches[i::workers]]
        try:
            return self._run_tasks(benches, tasks, parallel, workers, config)
        finally:
            self._sweep(sorted(logs.glob("*.log")))
            shutil.rmtree(logs, ignore_errors=True)

    def _workers(self, parallel: bool, requested: int, total: int) -> int:
        """Worker processes for `total` benchmarks (1 unless parallel); says so when cores cap them."""
        if not parallel:
            return 1
        workers = worker_count(requested, total)
        if workers < min(int(requested), total):
            self.progress(f"{requested} workers requested, capped at {workers}: {available_cores()} CPU "
                          "core(s) here, and more benchmark processes than cores only slow each other down "
                          "(Redis replies time out)")
        return workers

    def _sweep(self, logs: Sequence[Path]) -> None:
        """Remove the Redis keys and PostgreSQL rows a failed or killed benchmark process left (every process
        has ended)."""
        for line in sweep_leftovers(logs):
            self.progress(line)

    def _run_tasks(self, benches: List[BenchSpec], tasks: List[GroupTask], parallel: bool,
                   workers: int, config: BenchmarkConfig) -> List[str]:
        """Run the asv invocations of `tasks` (in this process, or one worker process each); report
        progress; return the paths written."""
        events = _RunEvents(self, benches)
        where = f"{workers} worker process{'es' if workers > 1 else ''}" if parallel else "one asv run"
        self.progress(f"running {len(benches)} benchmark(s) in {where} (profile {config.profile}; "
                      f"results in {config.output_dir})")
        if len(tasks) == 1 and not parallel:
            execute_group(tasks[0], events)
        else:
            _run_in_workers(tasks, events)
        return events.paths

    def run_benchmark(self, category: str, benchmark_name: str, params: Optional[Dict[str, Any]] = None) -> str:
        """Run one benchmark through asv; return the path of the JSON written (it holds "error" when
        the benchmark failed)."""
        config = self.config_with_params(category, params)
        bench = self._bench(category, benchmark_name, config)
        paths = self._run([bench], config, params, False, 1)
        if not paths:
            outcome = self.completed_benchmarks.get(bench.key, {})
            raise RunnerError(f"{bench.key}: {outcome.get('error')}")
        return paths[0]

    def run_category(self, category: str, params: Optional[Dict[str, Any]] = None, parallel: bool = False,
                     max_workers: int = 4) -> List[str]:
        """Run every benchmark of `category`; return the JSON paths (parallel: worker processes)."""
        config = self.config_with_params(category, params)
        benches = [self._bench(category, b, config) for b in sorted(self._category(category, config))]
        return self._run(benches, config, params, parallel, max_workers)

    def run_all(self, params: Optional[Dict[str, Any]] = None, parallel: bool = False,
                max_workers: int = 4, categories: Optional[Sequence[str]] = None) -> Dict[str, List[str]]:
        """Run every benchmark of every category (or of `categories`); return {category: paths}. Without
        `categories` the opt-in ones (``implementations``) are left out: they run only when named."""
        config = self.config_with_params(None, params)
        suite = self._suite(config)
        wanted = list(categories) if categories else default_categories(suite)
        benches = [self._bench(cat, b, config) for cat in wanted for b in sorted(self._category(cat, config))]
        paths = self._run(benches, config, params, parallel, max_workers)
        out: Dict[str, List[str]] = {cat: [] for cat in wanted}
        for path in paths:
            out.setdefault(Path(path).parent.name, []).append(path)
        return out

    # ---- summary ------------------------------------------------------------------------------

    @property
    def failures(self) -> Dict[str, str]:
        """{"category/benchmark": error} of the completed benchmarks that failed."""
        return {k: v["error"] for k, v in self.completed_benchmarks.items() if v.get("error")}

    def unstable(self) -> List[Dict[str, Any]]:
        """Timings of the completed benchmarks whose samples spread by more than
        ``verdict.UNSTABLE_SPREAD`` of their median (``metadata.unstable`` of each result), worst first."""
        documents = []
        for outcome in self.completed_benchmarks.values():
            if outcome.get("path"):
                try:
                    documents.append(read_document(outcome["path"]))
                except ResultsError:
                    continue
        return unstable_timings(documents)

    def summary(self) -> str:
        """A few lines: how many ran, failed, and each failure with its error; then the timings that
        are unstable on this machine (the ten worst)."""
        lines = [f"{len(self.completed_benchmarks)} benchmark(s) run, {len(self.failures)} failed"]
        lines += [f"  FAILED {key}: {error}" for key, error in sorted(self.failures.items())]
        lines += stability_lines(self.unstable())
        return "\n".join(lines)
