"""The CLI on the real asv suite (benchmarks/, asv.conf.json) with a tiny grid, results kept out of the
repository's .asv store (a copy of asv.conf.json with a temporary results_dir)."""

from __future__ import annotations

import json
import pytest

from .conftest import REPO, run_cli

pytestmark = [pytest.mark.asv, pytest.mark.slow]


@pytest.fixture()
def real_env(tmp_path):
    conf_path = REPO / "asv.conf.json"
    if not conf_path.is_file() or not (REPO / "benchmarks" / "storage.py").is_file():
        pytest.skip("the asv suite (asv.conf.json, benchmarks/) is not in this checkout")
    from asv import util
    conf = util.load_json(str(conf_path), js_comments=True)
    conf.update(repo=str(REPO), benchmark_dir=str(REPO / "benchmarks"), results_dir=str(tmp_path / "asv-results"),
                html_dir=str(tmp_path / "asv-html"), env_dir=str(REPO / ".asv" / "env"))
    private = tmp_path / "asv.conf.json"
    private.write_text(json.dumps(conf))
    return {"AGENTMEMORY_ASV_CONFIG": str(private), "AGENTMEMORY_BENCH_PROFILE": "quick"}


def test_write_throughput_on_the_real_suite(tmp_path, real_env):
    proc = run_cli(["python", "-m", "memory.benchmarking.cli", "run", "--category", "storage", "--benchmark",
                    "write_throughput", "--params", '{"batch_sizes": [10, 100], "data_complexity_levels": [1]}',
                    "--output-dir", str(tmp_path / "out")], tmp_path, real_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = list((tmp_path / "out" / "storage").glob("write_throughput_*.json"))
    doc = json.loads(path.read_text())
    tree = doc["results"]
    if "backend_memory" in tree:  # a Redis server answered: one subtree per backend
        assert doc["metadata"]["backend"] == "memory,redis"
        tree = tree["backend_memory"]
    else:
        assert doc["metadata"]["fixed_params"].get("backend") == "memory"
    leaf = tree["complexity_1"]["batch_100"]
    assert leaf["items_processed"] == 100 and leaf["total_time_seconds"] > 0
    assert leaf["throughput_ops_per_second"] == pytest.approx(100 / leaf["total_time_seconds"], rel=1e-6)
    assert doc["metadata"]["params"]["batch_sizes"] == [10, 100]
    # `list` sees every category of the real suite
    proc = run_cli(["python", "-m", "memory.benchmarking.cli", "list"], tmp_path, real_env)
    assert proc.returncode == 0
    for category in ("storage", "compression", "memory_transition", "retrieval", "scalability", "integration"):
        assert f"{category}:" in proc.stdout
