"""BenchmarkRunner: discover the asv suite's benchmarks and run them through asv on the installed code.

Each documented benchmark (one asv class, see :mod:`memory.benchmarking.naming`) runs as
``asv run --python=same --set-commit-hash HEAD --bench '^<its asv names>$'`` in a private results
directory, with the configuration handed over in ``AGENTMEMORY_BENCH_CONFIG``. The adapter then writes
``<output_dir>/<category>/<benchmark>_<timestamp>.json`` and the asv results are merged into the
project's asv store (``.asv/results``), so ``asv publish`` shows them too. Parallel runs spread the
benchmarks over worker processes.
"""

from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from memory.errors import ConfigError

from . import asv_adapter
from .asvrun import (ERROR_LINE, STATUS_LINE, ensure_asv_machine, git_head, merge_into_store,
                     parse_asv_errors, resolve_asv_name, scratch_repo)
from .config import CATEGORIES, CONFIG_ENV, PROFILE_ENV, BenchmarkConfig
from .documents import ResultsError, read_document, stability_lines, unstable_timings
from .results import BenchmarkResults

RUN_TIMEOUT_SECONDS = 3 * 3600
#: Where the suite's benchmark processes log every Redis namespace they create (benchmarks/common.py
#: reads the same variable), so the runner can remove what a failed or killed process left behind.
NAMESPACE_LOG_ENV = "AGENTMEMORY_BENCH_NAMESPACE_LOG"
REDIS_URL_ENV = "AGENTMEMORY_BENCH_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
_NAMESPACE = re.compile(r"asvbench-[A-Za-z0-9_.-]{6,}")
_NAMESPACE_PID = re.compile(r"asvbench-(?:probe-)?(\d+)-")


class RunnerError(Exception):
    """A run cannot start: unknown category or benchmark, no asv suite, bad parameters."""


def _save_error_document(output_dir: str, category: str, benchmark: str, params: Dict[str, Any],
                         error: str, extra: Dict[str, Any]) -> Optional[str]:
    try:
        path = BenchmarkResults(output_dir).save_result(benchmark, category, {}, dict(extra, params=params))
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        doc["error"] = error
        Path(path).write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
        return path
    except Exception:  # noqa: BLE001 - the output dir itself is unusable
        return None


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
    if not match:
        return False
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):
        return True  # exists under another user, or cannot tell: leave it
    return True


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


def execute_group(task: Dict[str, Any], events: Any = None) -> List[Dict[str, Any]]:
    """Run a group of documented benchmarks in one ``asv run`` and export one JSON per benchmark
    (also in a worker process). `events` (a queue) receives a dict per finished benchmark.

    `task`: conf_path, config (dict), output_dir, extra_metadata, benchmarks: [{category, benchmark,
    asv_names, infos, params}]. Returns [{key, path, error, elapsed_seconds, worker_pid}]."""
    started = time.monotonic()
    benches = task["benchmarks"]
    keys = [f"{b['category']}/{b['benchmark']}" for b in benches]
    owner = {name: key for b, key in zip(benches, keys) for name in b["asv_names"]}
    pending = {key: set(b["asv_names"]) for b, key in zip(benches, keys)}
    finished_at: Dict[str, float] = {}
    outcomes: List[Dict[str, Any]] = []
    scratch = Path(tempfile.mkdtemp(prefix="agentmemory-bench-"))
    extra = dict(task.get("extra_metadata") or {})
    output = ""
    try:
        project = asv_adapter.load_project(task["conf_path"])
        config_path = scratch / "benchmark_config.json"
        config_path.write_text(json.dumps(task["config"], indent=2), encoding="utf-8")
        commit = git_head(project.repo)
        conf = project.private_conf(scratch / "results", scratch / "html")
        real_commit = commit is not None
        if not real_commit:  # a repository without commits: attribute results to a scratch commit
            commit = scratch_repo(scratch / "repo")
            conf.update(repo=str(scratch / "repo"), branches=["main"])
            extra.update(commit=None, commit_note="the repository has no commit; asv results were not stored")
        ensure_asv_machine()
        private_conf = scratch / "asv.conf.json"
        private_conf.write_text(json.dumps(conf, indent=2), encoding="utf-8")
        # asv matches parameterised benchmarks as "name(p1, p2)": allow the parenthesised suffix.
        regex = "^(" + "|".join(re.escape(n) for n in owner) + r")(\(.*\))?$"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if task.get("private_home"):
            # Every `asv run` rewrites ~/.asv-machine.json; concurrent workers would read it half
            # written. Give each worker its own copy (a private HOME for the asv process).
            home = scratch / "home"
            home.mkdir()
            machine_file = Path.home() / ".asv-machine.json"
            if machine_file.is_file():
                shutil.copy2(machine_file, home / ".asv-machine.json")
            env["HOME"] = str(home)
        env[CONFIG_ENV] = str(config_path)
        env[PROFILE_ENV] = task["config"].get("profile", "default")
        if task.get("namespace_log"):
            env[NAMESPACE_LOG_ENV] = task["namespace_log"]
        cmd = [sys.executable, "-m", "asv", "run", "--python=same", "--set-commit-hash", commit,
               "--bench", regex, "--config", str(private_conf), "--show-stderr", "--record-samples"]
        lines: List[str] = []
        deadline = started + task.get("timeout_seconds", RUN_TIMEOUT_SECONDS)
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                              cwd=str(project.root), bufsize=1) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                found = STATUS_LINE.match(line.strip())
                name = resolve_asv_name(found.group(1), list(owner)) if found else None
                if name is not None:
                    key = owner[name]
                    pending[key].discard(name)
                    if not pending[key] and key not in finished_at:
                        finished_at[key] = time.monotonic()
                        if events is not None:
                            events.put({"key": key, "event": "measured",
                                        "elapsed_seconds": finished_at[key] - started})
                if time.monotonic() > deadline:
                    proc.kill()
                    lines.append(f"TimeoutError: asv run exceeded {task.get('timeout_seconds', RUN_TIMEOUT_SECONDS)} s")
                    break
            proc.wait()
        output = "\n".join(lines)
        files = [p for p in (scratch / "results").glob("*/*.json") if p.name != "machine.json"]
        errors = parse_asv_errors(output, list(owner))
        tail = [ln.strip() for ln in lines if ln.strip()][-20:]
        for bench, key in zip(benches, keys):
            own_errors = {n: m for n, m in errors.items() if owner.get(n) == key}
            message = "; ".join(f"{n.split('.')[-1]}: {m}" for n, m in own_errors.items()) or None
            path = None
            if files:
                written = asv_adapter.export_results(
                    files[:1], task["output_dir"], infos=bench["infos"],
                    only=[(bench["category"], bench["benchmark"])], params=bench["params"],
                    errors={key: message} if message else None, extra_metadata=extra)
                path = written[0] if written else None
            if path is None:
                last_error = next((ln for ln in reversed(tail) if ERROR_LINE.match(ln)), tail[-1] if tail else "")
                error = message or f"asv run produced no result: {last_error}"
                path = _save_error_document(task["output_dir"], bench["category"], bench["benchmark"],
                                            bench["params"], error, dict(extra, asv_output_tail=tail))
            else:
                error = json.loads(Path(path).read_text(encoding="utf-8")).get("error")
            outcomes.append({"key": key, "path": path, "error": error, "worker_pid": os.getpid(),
                             "elapsed_seconds": finished_at.get(key, time.monotonic()) - started})
        if files and real_commit:
            try:
                merge_into_store(files[0], scratch / "results", project.results_dir)
            except (OSError, ValueError) as exc:
                print(f"warning: could not merge results into {project.results_dir}: {exc}", file=sys.stderr)
    except Exception as exc:  # never let one group stop the run: every benchmark gets its error
        error = f"{type(exc).__name__}: {exc}"
        done = {o["key"] for o in outcomes}
        for bench, key in zip(benches, keys):
            if key not in done:
                outcomes.append({"key": key, "error": error, "worker_pid": os.getpid(),
                                 "elapsed_seconds": time.monotonic() - started,
                                 "path": _save_error_document(task["output_dir"], bench["category"],
                                                              bench["benchmark"], bench["params"], error, extra)})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if events is not None:
        for outcome in outcomes:
            events.put(dict(outcome, event="done"))
    return outcomes


class _ListQueue:
    """A stand-in for a multiprocessing queue in the sequential case: calls `sink` at once."""

    def __init__(self, sink: Callable[[Dict[str, Any]], None]):
        self.sink = sink

    def put(self, item: Dict[str, Any]) -> None:
        self.sink(item)


def _drain(queue: Any, sink: Callable[[Dict[str, Any]], None]) -> None:
    import queue as queue_module
    while True:
        try:
            item = queue.get_nowait()
        except (queue_module.Empty, EOFError, OSError):
            return
        sink(item)


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

    def discover_benchmarks(self, category: Optional[str] = None) -> Dict[str, Dict[str, Dict[str, Any]]]:
        """``{category: {benchmark_name: {"asv_benchmarks", "params", "doc"}}}`` of the asv suite,
        optionally of one category (RunnerError listing the valid ones when unknown)."""
        suite = self._suite(self.config)
        if category is not None and category not in suite:
            raise RunnerError(f"unknown category {category!r}; valid: {', '.join(sorted(suite)) or 'none'}")
        out: Dict[str, Dict[str, Dict[str, Any]]] = {}
        for cat in sorted(suite):
            if category is not None and cat != category:
                continue
            out[cat] = {}
            for bench, infos in sorted(suite[cat].items()):
                grid: Dict[str, List[Any]] = {}
                for info in infos:
                    for name, values in zip(info.get("param_names", []), info.get("params", [])):
                        known = grid.setdefault(name, [])
                        from .naming import parse_param_value
                        known.extend(v for v in map(parse_param_value, values) if v not in known)
                out[cat][bench] = {"asv_benchmarks": [i["name"] for i in infos], "params": grid,
                                   "doc": next((i.get("doc") for i in infos if i.get("doc")), "")}
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
            if category is not None:
                config.apply_overrides(flat, category=category)
            else:
                for name, value in flat.items():
                    owners = [c for c in CATEGORIES if hasattr(config.category(c), name)]
                    if len(owners) != 1:
                        raise ConfigError(f"unknown parameter {name!r}" if not owners else
                                          f"parameter {name!r} is ambiguous ({', '.join(owners)}); "
                                          "use {\"<category>\": {...}}")
                    config.apply_overrides({name: value}, category=owners[0])
        return config

    # ---- running ------------------------------------------------------------------------------

    def _bench(self, category: str, benchmark: str, config: BenchmarkConfig) -> Dict[str, Any]:
        suite = self._suite(config)
        if category not in suite:
            raise RunnerError(f"unknown category {category!r}; valid: {', '.join(sorted(suite))}")
        if benchmark not in suite[category]:
            raise RunnerError(f"unknown benchmark {benchmark!r} in category {category!r}; valid: "
                              f"{', '.join(sorted(suite[category]))}")
        infos = suite[category][benchmark]
        recorded = json.loads(json.dumps(vars(config.category(category))))
        return {"category": category, "benchmark": benchmark, "asv_names": [i["name"] for i in infos],
                "infos": infos, "params": recorded}

    def _run(self, benches: List[Dict[str, Any]], config: BenchmarkConfig, params: Optional[Dict[str, Any]],
             parallel: bool, max_workers: int) -> List[str]:
        """Run `benches` (one asv invocation, or one per worker process); report progress; return paths."""
        total = len(benches)
        workers = worker_count(max_workers, total) if parallel else 1
        if parallel and workers < min(int(max_workers), total):
            self.progress(f"{max_workers} workers requested, capped at {workers}: {available_cores()} CPU "
                          "core(s) here, and more benchmark processes than cores only slow each other down "
                          "(Redis replies time out)")
        extra = {"profile": config.profile, "param_overrides": params or {}, "parallel": bool(parallel),
                 "workers": workers}
        groups = [benches[i::workers] for i in range(workers)]
        logs = Path(tempfile.mkdtemp(prefix="agentmemory-bench-ns-"))
        tasks = [{"conf_path": str(self.project.conf_path), "config": config.to_dict(),
                  "output_dir": config.output_dir, "extra_metadata": extra, "benchmarks": group,
                  "private_home": workers > 1, "namespace_log": str(logs / f"namespaces-{i}.log")}
                 for i, group in enumerate(groups) if group]
        try:
            return self._run_tasks(benches, tasks, parallel, workers, config)
        finally:
            self._sweep(sorted(logs.glob("*.log")))
            shutil.rmtree(logs, ignore_errors=True)

    def _sweep(self, logs: Sequence[Path]) -> None:
        """Remove the Redis keys a failed or killed benchmark process left (every process has ended)."""
        removed, owners = sweep_namespaces(logged_namespaces(logs))
        if removed:
            self.progress(f"removed {removed} Redis key(s) left behind by {owners} benchmark namespace(s) "
                          "(benchmark processes that failed or were killed before their teardown)")

    def _run_tasks(self, benches: List[Dict[str, Any]], tasks: List[Dict[str, Any]], parallel: bool,
                   workers: int, config: BenchmarkConfig) -> List[str]:
        """Run the asv invocations of `tasks` (in this process, or one worker process each); report
        progress; return the paths written."""
        total = len(benches)
        start = time.monotonic()
        for bench in benches:
            self.running_benchmarks[f"{bench['category']}/{bench['benchmark']}"] = start
        measured: List[str] = []
        paths: List[str] = []

        def on_event(event: Dict[str, Any]) -> None:
            key = event["key"]
            if event["event"] == "measured":
                measured.append(key)
                self.progress(f"[{len(measured)}/{total}] {key} measured ({total - len(measured)} left; "
                              f"elapsed {time.monotonic() - start:.1f}s)")
                return
            outcome = {k: v for k, v in event.items() if k != "event"}
            self.running_benchmarks.pop(key, None)
            self.completed_benchmarks[key] = outcome
            if outcome.get("path"):
                paths.append(outcome["path"])
            status = f"FAILED: {outcome['error']}" if outcome.get("error") else "ok"
            self.progress(f"{key}: {status}" + (f" -> {outcome['path']}" if outcome.get("path") else ""))

        where = f"{workers} worker process{'es' if workers > 1 else ''}" if parallel else "one asv run"
        self.progress(f"running {total} benchmark(s) in {where} (profile {config.profile}; "
                      f"results in {config.output_dir})")
        if len(tasks) == 1 and not parallel:
            queue: Any = _ListQueue(on_event)
            execute_group(tasks[0], queue)
        else:
            context = multiprocessing.get_context("spawn")
            with context.Manager() as manager:
                queue = manager.Queue()
                with concurrent.futures.ProcessPoolExecutor(max_workers=len(tasks), mp_context=context) as pool:
                    futures = {pool.submit(execute_group, task, queue): task for task in tasks}
                    remaining = set(futures)
                    while remaining:
                        done, remaining = concurrent.futures.wait(remaining, timeout=0.2)
                        _drain(queue, on_event)
                        for future in done:
                            try:
                                future.result()
                            except Exception as exc:  # a worker process died
                                for bench in futures[future]["benchmarks"]:
                                    key = f"{bench['category']}/{bench['benchmark']}"
                                    if key not in self.completed_benchmarks:
                                        on_event({"event": "done", "key": key, "path": None,
                                                  "elapsed_seconds": time.monotonic() - start,
                                                  "error": f"worker failed: {type(exc).__name__}: {exc}"})
                    _drain(queue, on_event)
        return paths

    def run_benchmark(self, category: str, benchmark_name: str, params: Optional[Dict[str, Any]] = None) -> str:
        """Run one benchmark through asv; return the path of the JSON written (it holds "error" when
        the benchmark failed)."""
        config = self.config_with_params(category, params)
        bench = self._bench(category, benchmark_name, config)
        paths = self._run([bench], config, params, False, 1)
        if not paths:
            outcome = self.completed_benchmarks.get(f"{category}/{benchmark_name}", {})
            raise RunnerError(f"{category}/{benchmark_name}: {outcome.get('error')}")
        return paths[0]

    def run_category(self, category: str, params: Optional[Dict[str, Any]] = None, parallel: bool = False,
                     max_workers: int = 4) -> List[str]:
        """Run every benchmark of `category`; return the JSON paths (parallel: worker processes)."""
        config = self.config_with_params(category, params)
        suite = self._suite(config)
        if category not in suite:
            raise RunnerError(f"unknown category {category!r}; valid: {', '.join(sorted(suite))}")
        benches = [self._bench(category, b, config) for b in sorted(suite[category])]
        return self._run(benches, config, params, parallel, max_workers)

    def run_all(self, params: Optional[Dict[str, Any]] = None, parallel: bool = False,
                max_workers: int = 4, categories: Optional[Sequence[str]] = None) -> Dict[str, List[str]]:
        """Run every benchmark of every category (or of `categories`); return {category: paths}."""
        config = self.config_with_params(None, params)
        suite = self._suite(config)
        wanted = list(categories) if categories else [c for c in CATEGORIES if c in suite] + \
            sorted(c for c in suite if c not in CATEGORIES)
        for cat in wanted:
            if cat not in suite:
                raise RunnerError(f"unknown category {cat!r}; valid: {', '.join(sorted(suite))}")
        benches = [self._bench(cat, b, config) for cat in wanted for b in sorted(suite[cat])]
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
