"""The paired confirmation pass (memory.benchmarking.paired) with real benchmark processes: the suite's
own read benchmark measured sample against sample, and a tiny suite whose benchmarks fail, skip, die
or have no such parameters, each reported in one line while the rest is still measured."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from memory.benchmarking.paired import Build, Target, measure_pairs

REPO = Path(__file__).resolve().parents[2]

TINY_SUITE = '''
import os


class Cases:
    params = [[1, 2]]
    param_names = ["n"]
    number = 1
    repeat = 1

    def setup(self, n):
        if n == 2:
            raise NotImplementedError("n = 2 needs a server")

    def time_sum(self, n):
        sum(range(2000 * n))

    def time_dies(self, n):
        os._exit(3)

    def time_fails(self, n):
        raise ValueError("broken\\nsecond line")
'''


@pytest.fixture
def tiny_suite(tmp_path):
    """(benchmark dir, build) of TINY_SUITE, importable with this interpreter."""
    suite = tmp_path / "benchmarks"
    suite.mkdir()
    (suite / "__init__.py").write_text("")
    (suite / "cases.py").write_text(textwrap.dedent(TINY_SUITE))
    return suite, Build(sys.executable, tmp_path)


def _env():
    return dict(os.environ, AGENTMEMORY_BENCH_PROFILE="quick")


def test_the_suites_read_benchmark_is_measured_sample_against_sample():
    build = Build(sys.executable, REPO)
    target = Target("storage.ReadLatency.time_read", ("1", "'stm'", "'memory'"))
    seen = []
    measured = measure_pairs([target], {"baseline": build, "current": build}, REPO / "benchmarks", _env(),
                             seen.append, process_pairs=2)
    pairs = measured[target]
    assert not pairs.problems, pairs.problems
    assert len(pairs.values) == 2 and all(len(p) >= 3 for p in pairs.values)
    assert all(0 < base < 1 and 0 < cur < 1 for p in pairs.values for base, cur in p)
    assert seen and "process pair 2/2" in seen[-1]


def test_failures_skips_and_dead_processes_are_one_line_each(tiny_suite):
    suite, build = tiny_suite
    targets = [Target("cases.Cases.time_dies", ("1",)), Target("cases.Cases.time_fails", ("1",)),
               Target("cases.Cases.time_sum", ("2",)), Target("cases.Cases.time_sum", ("7",)),
               Target("cases.Cases.time_sum", ("1",))]
    measured = measure_pairs(targets, {"baseline": build, "current": build}, suite, _env(), process_pairs=2)
    dies, fails, skipped, unknown, fine = (measured[t] for t in targets)
    assert dies.values == [] and all("exited" in p for p in dies.problems)
    assert fails.values == [] and fails.problems[0] == "baseline: ValueError: broken"
    assert skipped.values == [] and "skipped" in skipped.problems[0]
    assert "no parameter combination ['7']" in unknown.problems[0]
    # a process that died is replaced: the benchmark after it is measured in both process pairs
    assert not fine.problems and len(fine.values) == 2 and all(len(p) >= 3 for p in fine.values)


def test_a_settled_target_is_not_measured_again(tiny_suite):
    suite, build = tiny_suite
    settled = Target("cases.Cases.time_sum", ("1",))
    asked = []

    def still_open(target, pairs):
        asked.append((target, len(pairs.values)))
        return not pairs.values  # settled after its first process pair

    measured = measure_pairs([settled], {"baseline": build, "current": build}, suite, _env(), process_pairs=3,
                             still_open=still_open)
    assert len(measured[settled].values) == 1 and asked == [(settled, 0), (settled, 1), (settled, 1)]
