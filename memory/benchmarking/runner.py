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
import contextlib
import copy
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
from .config import CATEGORIES, CONFIG_ENV, PROFILE_ENV, BenchmarkConfig
from .results import BenchmarkResults

RUN_TIMEOUT_SECONDS = 3 * 3600


class RunnerError(Exception):
    """A run cannot start: unknown category or benchmark, no asv suite, bad parameters."""


# ---- helpers usable in worker processes ---------------------------------------------------------


def _git_head(repo: Path) -> Optional[str]:
    try:
        proc = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "-q", "HEAD"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    head = proc.stdout.strip()
    return head if proc.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", head) else None


def _scratch_repo(folder: Path) -> str:
    """A one-commit git repository for asv to attribute results to when the project has no commit."""
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@localhost",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@localhost")
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True, capture_output=True, env=env)
    subprocess.run(["git", "-C", str(folder), "commit", "-q", "--allow-empty", "-m", "uncommitted work tree"],
                   check=True, capture_output=True, env=env)
    head = _git_head(folder)
    if not head:
        raise RunnerError("cannot create a scratch git repository for asv")
    return head


def ensure_asv_machine() -> None:
    """Run ``asv machine --yes`` once when this machine has no asv machine description yet."""
    machine_file = Path(os.environ.get("ASV_MACHINE_FILE", Path.home() / ".asv-machine.json"))
    if machine_file.is_file():
        return
    subprocess.run([sys.executable, "-m", "asv", "machine", "--yes"], capture_output=True, text=True,
                   timeout=120)


_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Failure)\b:?.*)$")


def parse_asv_errors(output: str) -> Dict[str, str]:
    """{asv benchmark name: "ErrorType: message (params: ...)"} from ``asv run --show-stderr`` output."""
    errors: Dict[str, List[str]] = {}
    current: Optional[str] = None
    params: Optional[str] = None
    for line in output.splitlines():
        head = re.match(r"^\[\s*[\d.]+%\]\s*[·.]+\s+(\S+)\s+(.*)$", line)
        if head:
            name, rest = head.groups()
            if "failed" in rest or "timed out" in rest or "error" in rest.lower():
                current = name
                errors.setdefault(current, [])
                if "timed out" in rest:
                    errors[current].append("timed out")
            elif not name.startswith(("=", "-")):
                current = None if name.count(".") >= 1 and "Running" not in line else current
            params = None
            continue
        if current is None:
            continue
        found = re.match(r"^\s*For parameters:\s*(.*)$", line)
        if found:
            params = found.group(1).strip()
            continue
        found = _ERROR_LINE.match(line)
        if found and not line.strip().startswith("File "):
            message = found.group(1).strip()
            errors[current].append(f"{message} (params: {params})" if params else message)
    out = {}
    for name, messages in errors.items():
        unique = list(dict.fromkeys(messages))
        out[name] = "; ".join(unique[:5]) + (f" (+{len(unique) - 5} more)" if len(unique) > 5 else "") \
            if unique else "failed (see asv output)"
    return out


def _merge_into_store(private_file: Path, private_root: Path, store: Path) -> None:
    """Merge one private asv result file (and benchmarks.json, machine.json) into the asv store."""
    import fcntl

    store.mkdir(parents=True, exist_ok=True)
    with open(store / ".agentmemory-merge.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        machine_dir = store / private_file.parent.name
        machine_dir.mkdir(parents=True, exist_ok=True)
        machine_json = private_file.parent / "machine.json"
        if machine_json.is_file() and not (machine_dir / "machine.json").is_file():
            shutil.copy2(machine_json, machine_dir / "machine.json")
        target = machine_dir / private_file.name
        new = json.loads(private_file.read_text(encoding="utf-8"))
        if target.is_file():
            try:
                old = json.loads(target.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                old = None
            if old and old.get("result_columns") == new.get("result_columns"):
                old.setdefault("results", {}).update(new.get("results", {}))
                old.setdefault("durations", {}).update(new.get("durations", {}))
                new = old
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(new, indent=1), encoding="utf-8")
        os.replace(tmp, target)
        bench_new = private_root / "benchmarks.json"
        if bench_new.is_file():
            merged: Dict[str, Any] = {}
            bench_old = store / "benchmarks.json"
            if bench_old.is_file():
                with contextlib.suppress(OSError, json.JSONDecodeError):
                    merged = json.loads(bench_old.read_text(encoding="utf-8"))
            merged.update(json.loads(bench_new.read_text(encoding="utf-8")))
            tmp = store / "benchmarks.json.tmp"
            tmp.write_text(json.dumps(merged, indent=1), encoding="utf-8")
            os.replace(tmp, bench_old)


def execute_benchmark(task: Dict[str, Any]) -> Dict[str, Any]:
    """Run one documented benchmark through asv and export its JSON (runs in a worker process too).

    `task`: conf_path, category, benchmark, asv_names, infos, config (dict), params (recorded),
    output_dir, extra_metadata. Returns {key, path, error, elapsed_seconds}."""
    started = time.monotonic()
    key = f"{task['category']}/{task['benchmark']}"
    project = asv_adapter.load_project(task["conf_path"])
    scratch = Path(tempfile.mkdtemp(prefix="agentmemory-bench-"))
    error: Optional[str] = None
    path: Optional[str] = None
    try:
        config_path = scratch / "benchmark_config.json"
        config_path.write_text(json.dumps(task["config"], indent=2), encoding="utf-8")
        commit = _git_head(project.repo)
        conf = copy.deepcopy(project.conf)
        conf.update({"results_dir": str(scratch / "results"), "html_dir": str(scratch / "html"),
                     "benchmark_dir": str(project.benchmark_dir),
                     "env_dir": str((project.root / conf.get("env_dir", "env")).resolve()),
                     "repo": str(project.repo)})
        if commit is None:  # a repository without commits: attribute results to a scratch commit
            commit = _scratch_repo(scratch / "repo")
            conf["repo"] = str(scratch / "repo")
            conf["branches"] = ["main"]
            real_commit = False
        else:
            real_commit = True
        private_conf = scratch / "asv.conf.json"
        private_conf.write_text(json.dumps(conf, indent=2), encoding="utf-8")
        # asv matches parameterised benchmarks as "name(p1, p2)": allow the parenthesised suffix.
        regex = "^(" + "|".join(re.escape(n) for n in task["asv_names"]) + r")(\(.*\))?$"
        env = dict(os.environ)
        env[CONFIG_ENV] = str(config_path)
        env[PROFILE_ENV] = task["config"].get("profile", "default")
        cmd = [sys.executable, "-m", "asv", "run", "--python=same", "--set-commit-hash", commit,
               "--bench", regex, "--config", str(private_conf), "--show-stderr"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(project.root),
                                  timeout=task.get("timeout_seconds", RUN_TIMEOUT_SECONDS))
            output = (proc.stdout or "") + "\n" + (proc.stderr or "")
        except subprocess.TimeoutExpired as exc:
            output = f"{exc.stdout or ''}\n{exc.stderr or ''}\nTimeoutError: asv run exceeded {exc.timeout} s"
        files = [p for p in (scratch / "results").glob("*/*.json") if p.name != "machine.json"]
        errors = parse_asv_errors(output)
        message = "; ".join(f"{n.split('.')[-1]}: {m}" for n, m in errors.items()) or None
        extra = dict(task.get("extra_metadata") or {})
        if not real_commit:  # results of a work tree without commits: no commit to name
            extra.update(commit=None, commit_note="the repository has no commit; asv results were not stored")
        if files:
            written = asv_adapter.export_results(
                files[:1], task["output_dir"], infos=task["infos"],
                only=[(task["category"], task["benchmark"])], params=task["params"],
                errors={key: message} if message else None, extra_metadata=extra)
            path = written[0] if written else None
            if real_commit:
                try:
                    _merge_into_store(files[0], scratch / "results", project.results_dir)
                except (OSError, ValueError) as exc:
                    print(f"warning: could not merge results into {project.results_dir}: {exc}", file=sys.stderr)
        if path is None:
            lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
            tail = next((ln for ln in reversed(lines) if _ERROR_LINE.match(ln)), lines[-1] if lines else "")
            error = message or f"asv run produced no results: {tail}"
            results = BenchmarkResults(task["output_dir"])
            path = results.save_result(task["benchmark"], task["category"], {},
                                       dict(extra, params=task["params"], asv_output_tail=lines[-20:]))
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            doc["error"] = error
            Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        else:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            error = doc.get("error")
    except Exception as exc:  # never let one benchmark stop the run
        error = f"{type(exc).__name__}: {exc}"
        try:
            path = BenchmarkResults(task["output_dir"]).save_result(
                task["benchmark"], task["category"], {}, {"params": task["params"], "error": error})
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            doc["error"] = error
            Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        except Exception:  # noqa: BLE001 - the output dir itself is unusable
            path = None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"key": key, "path": path, "error": error, "elapsed_seconds": time.monotonic() - started,
            "worker_pid": os.getpid()}


# ---- the runner --------------------------------------------------------------------------------


class BenchmarkRunner:
    """Discover and run the asv suite's benchmarks; results land in ``config.output_dir``."""

    def __init__(self, config: Optional[BenchmarkConfig] = None,
                 results_manager: Optional[BenchmarkResults] = None,
                 asv_config: Optional[str] = None, progress: Optional[Callable[[str], None]] = None):
        self.config = config or BenchmarkConfig()
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
            with tempfile.TemporaryDirectory(prefix="agentmemory-bench-") as scratch:
                path = Path(scratch) / "benchmark_config.json"
                path.write_text(json.dumps(config.to_dict()), encoding="utf-8")
                try:
                    infos = asv_adapter.discover_suite(
                        self.project.benchmark_dir, env={CONFIG_ENV: str(path), PROFILE_ENV: config.profile})
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

    def _task(self, category: str, benchmark: str, config: BenchmarkConfig, params: Optional[Dict[str, Any]],
              extra: Dict[str, Any]) -> Dict[str, Any]:
        suite = self._suite(config)
        if category not in suite:
            raise RunnerError(f"unknown category {category!r}; valid: {', '.join(sorted(suite))}")
        if benchmark not in suite[category]:
            raise RunnerError(f"unknown benchmark {benchmark!r} in category {category!r}; valid: "
                              f"{', '.join(sorted(suite[category]))}")
        infos = suite[category][benchmark]
        section = config.category(category)
        recorded = dict(vars(section))
        return {"conf_path": str(self.project.conf_path), "category": category, "benchmark": benchmark,
                "asv_names": [i["name"] for i in infos], "infos": infos, "config": config.to_dict(),
                "params": json.loads(json.dumps(recorded)), "output_dir": config.output_dir,
                "extra_metadata": dict(extra, profile=config.profile, param_overrides=params or {})}

    def _run_tasks(self, tasks: List[Dict[str, Any]], parallel: bool, max_workers: int) -> List[str]:
        total = len(tasks)
        start = time.monotonic()
        paths: List[str] = []
        done = 0

        def finished(outcome: Dict[str, Any]) -> None:
            nonlocal done
            done += 1
            self.running_benchmarks.pop(outcome["key"], None)
            self.completed_benchmarks[outcome["key"]] = outcome
            if outcome.get("path"):
                paths.append(outcome["path"])
            status = f"FAILED: {outcome['error']}" if outcome.get("error") else "ok"
            self.progress(f"[{done}/{total}] {outcome['key']} {status} ({outcome['elapsed_seconds']:.1f}s; "
                          f"{total - done} left; elapsed {time.monotonic() - start:.1f}s)"
                          + (f" -> {outcome['path']}" if outcome.get("path") else ""))

        if parallel and total > 1:
            workers = max(1, min(int(max_workers), total))
            for task in tasks:
                task["extra_metadata"].update({"parallel": True, "workers": workers})
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures = {}
                for task in tasks:
                    key = f"{task['category']}/{task['benchmark']}"
                    self.running_benchmarks[key] = time.monotonic()
                    futures[pool.submit(execute_benchmark, task)] = key
                self.progress(f"running {total} benchmarks in {workers} worker processes")
                for future in concurrent.futures.as_completed(futures):
                    try:
                        outcome = future.result()
                    except Exception as exc:  # a worker died
                        outcome = {"key": futures[future], "path": None, "elapsed_seconds": 0.0,
                                   "error": f"worker failed: {type(exc).__name__}: {exc}"}
                    finished(outcome)
        else:
            for index, task in enumerate(tasks):
                task["extra_metadata"].update({"parallel": False, "workers": 1})
                key = f"{task['category']}/{task['benchmark']}"
                self.running_benchmarks[key] = time.monotonic()
                self.progress(f"[{index + 1}/{total}] {key} running ({total - index - 1} left after this; "
                              f"elapsed {time.monotonic() - start:.1f}s)")
                finished(execute_benchmark(task))
        return paths

    def run_benchmark(self, category: str, benchmark_name: str, params: Optional[Dict[str, Any]] = None) -> str:
        """Run one benchmark through asv; return the path of the JSON written (it holds "error" when
        the benchmark failed)."""
        config = self.config_with_params(category, params)
        paths = self._run_tasks([self._task(category, benchmark_name, config, params, {})], False, 1)
        outcome = self.completed_benchmarks[f"{category}/{benchmark_name}"]
        if not paths:
            raise RunnerError(f"{category}/{benchmark_name}: {outcome.get('error')}")
        return paths[0]

    def run_category(self, category: str, params: Optional[Dict[str, Any]] = None, parallel: bool = False,
                     max_workers: int = 4) -> List[str]:
        """Run every benchmark of `category`; return the JSON paths (parallel: worker processes)."""
        config = self.config_with_params(category, params)
        suite = self._suite(config)
        if category not in suite:
            raise RunnerError(f"unknown category {category!r}; valid: {', '.join(sorted(suite))}")
        tasks = [self._task(category, b, config, params, {}) for b in sorted(suite[category])]
        return self._run_tasks(tasks, parallel, max_workers)

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
        tasks = [self._task(cat, b, config, params, {}) for cat in wanted for b in sorted(suite[cat])]
        paths = self._run_tasks(tasks, parallel, max_workers)
        out: Dict[str, List[str]] = {cat: [] for cat in wanted}
        for path in paths:
            category = Path(path).parent.name
            out.setdefault(category, []).append(path)
        return out

    # ---- summary ------------------------------------------------------------------------------

    @property
    def failures(self) -> Dict[str, str]:
        """{"category/benchmark": error} of the completed benchmarks that failed."""
        return {k: v["error"] for k, v in self.completed_benchmarks.items() if v.get("error")}

    def summary(self) -> str:
        """A few lines: how many ran, failed, and each failure with its error."""
        lines = [f"{len(self.completed_benchmarks)} benchmark(s) run, {len(self.failures)} failed"]
        lines += [f"  FAILED {key}: {error}" for key, error in sorted(self.failures.items())]
        return "\n".join(lines)
