"""A tiny real asv project (one benchmark class per category) for fast end-to-end CLI tests.

Its benchmarks follow BenchmarkConfig.from_env() like the real suite, so --config, --profile and
--params reach them; TOY_FAIL=1 makes storage.write_throughput raise, TOY_FAIL=kill kills its process.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

COMMON = '''
import os
from memory.benchmarking.config import BenchmarkConfig

CONFIG = BenchmarkConfig.from_env()
TIMING = CONFIG.timing()


class Base:
    repeat = TIMING["repeat"]
    number = TIMING["number"]
    warmup_time = TIMING["warmup_time"]
    rounds = TIMING["rounds"]
    sample_time = TIMING["sample_time"]
    min_run_count = 1


def work(n):
    total = 0
    for i in range(n * 50):
        total += i * i
    return total
'''

MODULES = {
    "storage": '''
import os
import signal
from .common import CONFIG, Base, work


class WriteThroughput(Base):
    """Writes of batch_size states."""
    params = [CONFIG.storage.batch_sizes, CONFIG.storage.data_complexity_levels, ["memory", "redis"]]
    param_names = ["batch_size", "complexity", "backend"]
    items_per_call = "batch_size"

    def setup(self, batch_size, complexity, backend):
        if backend == "redis":
            raise NotImplementedError("no redis in the toy suite")
        if os.environ.get("TOY_FAIL") == "kill":  # a hard crash: no Python traceback
            os.kill(os.getpid(), signal.SIGKILL)
        if os.environ.get("TOY_FAIL"):
            raise RuntimeError("planted failure")

    def time_store_loop(self, batch_size, complexity, backend):
        work(batch_size * complexity)

    def track_stored_bytes(self, batch_size, complexity, backend):
        return 100 * batch_size
    track_stored_bytes.unit = "bytes"


class ReadLatency(Base):
    """Reads by id."""
    params = [[1, 10], ["stm", "im", "ltm"]]
    param_names = ["batch_size", "tier"]
    ops_per_call = 10
    items_per_call = [10, "batch_size"]

    def time_read(self, batch_size, tier):
        work(batch_size)
''',
    "compression": '''
from .common import CONFIG, Base


class EmbeddingQuality(Base):
    """Reconstruction quality."""
    params = [CONFIG.compression.target_dimensions]
    param_names = ["target_dim"]

    def track_cosine_similarity(self, target_dim):
        return 0.9
    track_cosine_similarity.unit = "cosine"
''',
    "memory_transition": '''
from .common import CONFIG, Base


class ImportanceRetention(Base):
    """Retention per threshold."""
    params = [CONFIG.memory_transition.transition_thresholds]
    param_names = ["threshold"]

    def track_retention_rate(self, threshold):
        return 1.0 - threshold / 2
    track_retention_rate.unit = "fraction"
''',
    "retrieval": '''
from .common import CONFIG, Base, work


class SimilaritySearchLatency(Base):
    """Search latency per volume."""
    params = [[CONFIG.retrieval.dataset_size]]
    param_names = ["volume"]
    ops_per_call = 5
    items_per_call = 5

    def time_search(self, volume):
        work(5)
''',
    "scalability": '''
from .common import CONFIG, Base, work


class AgentCountScaling(Base):
    """Agents doing a workload."""
    params = [CONFIG.scalability.agent_counts]
    param_names = ["agents"]
    items_per_call = ["agents", 10]

    def time_agent_workload(self, agents):
        work(agents * 10)
''',
    "integration": '''
from .common import CONFIG, Base


class ApiOverhead(Base):
    """API overhead."""
    params = [CONFIG.integration.concurrent_clients]
    param_names = ["clients"]

    def track_overhead_percent(self, clients):
        return 5.0
    track_overhead_percent.unit = "percent"
''',
}

ASV_CONF = {
    "version": 1, "project": "toy", "project_url": "http://localhost", "repo": ".", "branches": ["main"],
    "environment_type": "virtualenv", "benchmark_dir": "benchmarks", "env_dir": ".asv/env",
    "results_dir": ".asv/results", "html_dir": ".asv/html",
}


def make_toy_project(root: Path) -> Path:
    """Write the toy asv project under `root` with one git commit; return its asv.conf.json path."""
    bench = root / "benchmarks"
    bench.mkdir(parents=True)
    (bench / "__init__.py").write_text("")
    (bench / "common.py").write_text(textwrap.dedent(COMMON))
    for name, source in MODULES.items():
        (bench / f"{name}.py").write_text(textwrap.dedent(source))
    conf = root / "asv.conf.json"
    conf.write_text(json.dumps(ASV_CONF, indent=2))
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@localhost", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@localhost")
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True, env=env)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(root), "commit", "-q", "-m", "toy"], check=True, env=env)
    return conf
