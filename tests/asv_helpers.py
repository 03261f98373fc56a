"""Helpers for tests/test_asv_suite.py: throw-away asv projects, running asv, reading its results."""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
MACHINE = "asv-test-machine"
SUITE_PREFIXES = ("agentmemory-asv-",)
REDIS_KEY_PATTERN = "*asvbench*"

#: A tiny grid: every benchmark of every category runs in seconds.
TINY_CONFIG: Dict[str, Any] = {
    "profile": "quick",
    "storage": {"batch_sizes": [10], "data_complexity_levels": [1], "num_samples": 5},
    "compression": {"dataset_sizes": [60], "target_dimensions": [16], "training_iterations": 2},
    "memory_transition": {"transition_thresholds": [0.5]},
    "retrieval": {"dataset_size": 120, "query_counts": [5], "vector_dimensions": [32],
                  "similarity_thresholds": [0.5]},
    "scalability": {"agent_counts": [1, 2], "memory_sizes": [50], "parallel_operations": [2]},
    "integration": {"operations_per_test": 20, "concurrent_clients": [2]},
}


def git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="asv-test", GIT_AUTHOR_EMAIL="asv-test@localhost",
               GIT_COMMITTER_NAME="asv-test", GIT_COMMITTER_EMAIL="asv-test@localhost")
    out = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def make_project(root: Path, config: Optional[Dict[str, Any]] = None) -> Path:
    """A throw-away asv project in `root`: this repo's asv.conf.json and benchmarks/, committed to a
    fresh git repository (asv needs a commit hash to save results), plus the benchmark config file."""
    project = root / "project"
    project.mkdir(parents=True)
    shutil.copy2(REPO / "asv.conf.json", project / "asv.conf.json")
    shutil.copytree(REPO / "benchmarks", project / "benchmarks",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "suite snapshot")
    (root / "bench_config.json").write_text(json.dumps(config or TINY_CONFIG), encoding="utf-8")
    (root / "home").mkdir()
    (root / "tmp").mkdir()
    return project


def asv_env(root: Path, **extra: str) -> Dict[str, str]:
    """Environment of asv subprocesses: private HOME (machine file) and TMPDIR (leftover check),
    the tiny config, the quick profile, and this interpreter first on PATH."""
    env = dict(os.environ)
    env.update({
        "HOME": str(root / "home"),
        "TMPDIR": str(root / "tmp"),
        "AGENTMEMORY_BENCH_CONFIG": str(root / "bench_config.json"),
        "AGENTMEMORY_BENCH_PROFILE": "quick",
        "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    if "PYENV_ROOT" not in env:
        env["PYENV_ROOT"] = str(Path.home() / ".pyenv")
    env.update(extra)
    return env


def run_asv(project: Path, env: Dict[str, str], *args: str, timeout: float = 600,
            check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "asv", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"asv {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-6000:]}\n{proc.stderr[-4000:]}")
    return proc


def machine(project: Path, env: Dict[str, str]) -> None:
    run_asv(project, env, "machine", "--yes", "--machine", MACHINE)


def result_files(project: Path) -> List[Path]:
    base = project / ".asv" / "results" / MACHINE
    return sorted(p for p in base.glob("*.json") if p.name != "machine.json")


def load_results(project: Path) -> Dict[str, List[Tuple[Tuple[str, ...], Any]]]:
    """{benchmark name: [(param reprs, value), ...]} merged over the project's result files."""
    from asv.results import Results

    out: Dict[str, List[Tuple[Tuple[str, ...], Any]]] = {}
    for path in result_files(project):
        res = Results.load(str(path), MACHINE)
        for key in res.get_all_result_keys():
            params = res.get_result_params(key)
            values = res.get_result_value(key, params)
            combos = list(itertools.product(*params)) if params else [()]
            if not params and not isinstance(values, list):
                values = [values]
            out[key] = list(zip(combos, values))
    return out


def catalog(env: Dict[str, str]) -> Dict[str, Dict[str, Any]]:
    """The suite's metric catalogue under `env` (same config the asv run sees)."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "common.py"), "--catalog"],
                          cwd=REPO, env=env, capture_output=True, text=True, check=True, timeout=120)
    return json.loads(proc.stdout)


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def temp_listing(path: Path) -> set:
    return set(os.listdir(path))


def suite_tempfiles(path: Optional[str] = None) -> set:
    path = path or tempfile.gettempdir()
    return {n for n in os.listdir(path) if n.startswith(SUITE_PREFIXES)}


def redis_keys(pattern: str = REDIS_KEY_PATTERN) -> Optional[int]:
    """How many keys match `pattern`, or None when no Redis server answers."""
    try:
        import redis

        url = os.environ.get("AGENTMEMORY_BENCH_REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0"
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        n = sum(1 for _ in client.scan_iter(match=pattern, count=1000))
        client.close()
        return n
    except Exception:
        return None


def redis_backend_usable() -> bool:
    """Whether the suite can use the Redis backend here (same probe as benchmarks/common.py)."""
    code = ("import sys; sys.path.insert(0, %r); from benchmarks.backends import redis_backend_status;"
            "print(int(redis_backend_status()[0]))" % str(REPO))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return proc.returncode == 0 and proc.stdout.strip().endswith("1")


def expected_combos(entry: Dict[str, Any]) -> Iterable[Tuple[str, ...]]:
    params = entry["params"]
    if not params:
        return [()]
    return list(itertools.product(*[[repr(v) for v in p] for p in params]))


# ---- the published site, offline -----------------------------------------------------------
# asv's pages load jQuery, flot, bootstrap, md5 and stupidtable from CDNs. The package ships those
# libraries (memory/benchmarking/static/asv_site) and `cli publish` rewrites the pages to load them
# from the site itself: memory.benchmarking.publish.localize_site, the one implementation.

from memory.benchmarking.publish import STATIC_DIR, localize_site  # noqa: E402,F401 (re-exported)

#: Chromium with every host name unresolvable (no network) except the loopback preview server.
OFFLINE_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")


def fetch_vendor() -> Path:
    """The site's JS/CSS libraries as the package ships them (no network needed)."""
    return STATIC_DIR


def chromium_offline(browser: str, url: str, profile: Path, *extra: str, size: str = "1400,900",
                     timeout: float = 120) -> subprocess.CompletedProcess:
    """Run headless `browser` on `url` with the network cut off (OFFLINE_FLAGS), a private profile,
    8 s of virtual time for the page's scripts, and `extra` flags (``--dump-dom``, ``--screenshot=``)."""
    cmd = [browser, *OFFLINE_FLAGS, f"--user-data-dir={profile}", f"--window-size={size}",
           "--virtual-time-budget=8000", *extra, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, HOME=str(profile)))
