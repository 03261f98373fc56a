"""The paired confirmation pass (memory.benchmarking.paired) with real benchmark processes: the suite's
own read benchmark measured sample against sample, and a tiny suite whose benchmarks fail, skip, die
or have no such parameters, each reported in one line while the rest is still measured."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from memory.benchmarking.paired import Build, Target, block_order, measure_pairs

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

    def track_samples_asked(self, n):
        return float(os.environ.get("AGENTMEMORY_BENCH_TRACK_SAMPLES", "0"))
'''


def _write_suite(tmp_path, module, source):
    """A benchmark dir holding one module of `source`."""
    suite = tmp_path / "benchmarks"
    suite.mkdir()
    (suite / "__init__.py").write_text("")
    (suite / f"{module}.py").write_text(textwrap.dedent(source))
    return suite


@pytest.fixture
def tiny_suite(tmp_path):
    """(benchmark dir, build) of TINY_SUITE, importable with this interpreter."""
    suite = _write_suite(tmp_path, "cases", TINY_SUITE)
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
    assert any("process pair 2/2" in line for line in seen)


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


def test_a_track_call_in_the_pairs_takes_the_pass_s_fewer_samples(tiny_suite):
    # benchmarks.conventions.sampled reads the variable: one call is one block there
    from memory.benchmarking.paired import TRACK_BLOCK_SAMPLES

    suite, build = tiny_suite
    target = Target("cases.Cases.track_samples_asked", ("1",))
    pairs = measure_pairs([target], {"baseline": build, "current": build}, suite, _env(), process_pairs=2)[target]
    assert not pairs.problems and len(pairs.values) == 2
    assert {v for p in pairs.values for pair in p for v in pair} == {float(TRACK_BLOCK_SAMPLES)}


@pytest.mark.parametrize("at_once", [1, 2])
def test_a_settled_target_is_not_measured_again(tiny_suite, at_once):
    suite, build = tiny_suite
    settled = Target("cases.Cases.time_sum", ("1",))
    asked = []

    def still_open(target, pairs):
        asked.append((target, len(pairs.values)))
        return not pairs.values  # settled after its first process pair

    measured = measure_pairs([settled], {"baseline": build, "current": build}, suite, _env(), process_pairs=3,
                             still_open=still_open, at_once=at_once)
    if at_once == 1:  # asked before each process pair
        assert len(measured[settled].values) == 1 and asked == [(settled, 0), (settled, 1)]
    else:  # asked before each group of pairs measured at once: pairs 1 and 2, then (not) pair 3
        assert len(measured[settled].values) == 2 and asked == [(settled, 0), (settled, 2)]


CONCURRENT_SUITE = '''
import os
import time


def _log(name, started):
    with open(os.environ["PAIRED_TIMES_LOG"], "a") as log:
        cores = ",".join(map(str, sorted(os.sched_getaffinity(0))))
        log.write(f"{name} {cores} {started} {time.time()}\\n")


class Slow:
    number = 1
    repeat = 1

    def time_slow(self):
        started = time.time()
        time.sleep(0.05)
        _log("slow", started)


class Threads:
    number = 1
    repeat = 1
    parallel = True

    def setup(self):
        _log("threads-setup", time.time())

    def time_threads(self):
        started = time.time()
        time.sleep(0.05)
        _log("threads", started)
'''


def _logged(log):
    """[(name, cores, start, end)] of the logged samples."""
    return [(name, cores, float(start), float(end))
            for name, cores, start, end in (line.split() for line in log.read_text().splitlines())]


def _span(samples, name, cores):
    """(first start, last end) of `name`'s samples on `cores`."""
    mine = [(start, end) for n, c, start, end in samples if (n, c) == (name, cores)]
    return min(start for start, _ in mine), max(end for _, end in mine)


@pytest.mark.skipif(len(getattr(os, "sched_getaffinity", lambda pid: ())(0)) < 2,
                    reason="measuring process pairs at once needs two CPU cores")
@pytest.mark.parametrize("at_once", [1, 2])
def test_process_pairs_measure_at_once_each_on_its_core_and_parallel_ones_alone(tmp_path, at_once):
    suite = _write_suite(tmp_path, "concurrent", CONCURRENT_SUITE)
    log = tmp_path / "times.log"
    build = Build(sys.executable, tmp_path)
    slow, threads = Target("concurrent.Slow.time_slow"), Target("concurrent.Threads.time_threads")
    measured = measure_pairs([slow, threads], {"baseline": build, "current": build}, suite,
                             dict(_env(), PAIRED_TIMES_LOG=str(log)), process_pairs=2, at_once=at_once)
    cores = sorted(os.sched_getaffinity(0))
    assert measured[slow].cpus == [[cores[0]], [cores[1]]]  # in process-pair order either way
    # each pair's wall time on a target: at least its 1 + 1 + 2 x 3 samples of 50 ms
    assert len(measured[slow].seconds) == 2 and all(s >= 0.4 for s in measured[slow].seconds)
    assert len(measured[threads].values) == 2 and measured[threads].cpus == [cores, cores]
    samples = _logged(log)
    first, second = _span(samples, "slow", str(cores[0])), _span(samples, "slow", str(cores[1]))
    overlap = first[0] < second[1] and second[0] < first[1]
    assert overlap == (at_once == 2)
    # the parallel benchmark ran on every core with no pinned pair measuring beside it
    pinned = [(a, b) for name, _, a, b in samples if name == "slow"]
    parallel = [(a, b) for name, _, a, b in samples if name == "threads"]
    assert parallel and not [(p, q) for p in parallel for q in pinned if p[0] < q[1] and q[0] < p[1]]
    # nor was it set up in a pinned process, where it cannot run
    assert {cpus for name, cpus, _, _ in samples if name == "threads-setup"} == {",".join(map(str, cores))}


PINNED_SUITE = '''
import os

_record_at_import = os.sched_getaffinity(0)  # the worker pins itself before the suite is imported


def _record(name):
    with open(os.environ["PAIRED_AFFINITY_LOG"], "a") as log:
        log.write(f"{name} {os.getpid()} {','.join(map(str, sorted(os.sched_getaffinity(0))))}\\n")
        log.write(f"{name}-import {os.getpid()} {','.join(map(str, sorted(_record_at_import)))}\\n")


class Single:
    number = 1
    repeat = 1

    def time_single(self):
        _record("single")


class Threads:
    number = 1
    repeat = 1
    parallel = True

    def time_threads(self):
        _record("threads")
'''


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="this platform cannot pin processes to cores")
def test_each_process_pair_shares_one_core_and_a_parallel_benchmark_keeps_all(tmp_path):
    suite = _write_suite(tmp_path, "pinned", PINNED_SUITE)
    log = tmp_path / "affinity.log"
    build = Build(sys.executable, tmp_path)
    single, threads = Target("pinned.Single.time_single"), Target("pinned.Threads.time_threads")
    lines = []
    measured = measure_pairs([single, threads], {"baseline": build, "current": build}, suite,
                             dict(_env(), PAIRED_AFFINITY_LOG=str(log)), progress=lines.append,
                             process_pairs=2)
    cores = sorted(os.sched_getaffinity(0))
    seen = {}  # (benchmark, pid) -> the cores its samples ran on
    for name, pid, cpus in (line.split() for line in log.read_text().splitlines()):
        seen.setdefault((name, pid), set()).add(cpus)
    single_pids = sorted({pid for name, pid in seen if name == "single"})
    assert len(single_pids) == 4  # two process pairs of two processes
    assert all(len(cpus) == 1 for cpus in seen.values())  # one set of cores for a process's life
    # pinned before the suite was imported, not moved there after its set-up
    assert all(seen[("single-import", pid)] == seen[("single", pid)] for pid in single_pids)
    # both processes of a pair on one core, the pairs on the allowed cores in turn
    assert measured[single].cpus == [[cores[0]], [cores[1 % len(cores)]]]
    by_pid = {pid: cpus.pop() for (name, pid), cpus in seen.items() if name == "single"}
    assert sorted(by_pid.values()) == sorted([str(cores[0])] * 2 + [str(cores[1 % len(cores)])] * 2)
    all_cores = ",".join(map(str, cores))
    assert measured[threads].cpus == [cores, cores]
    assert {cpus.pop() for (name, pid), cpus in seen.items() if name == "threads"} == {all_cores}
    if len(cores) > 1:  # a parallel benchmark is measured in processes of its own, started on every core
        assert not {pid for name, pid in seen if name == "threads"} & set(single_pids)
        # the progress line says where it really ran, not the pinned pair's core
        assert [line for line in lines if "every CPU" in line and threads.label in line]
        assert not [line for line in lines if "every CPU" in line and single.label in line]


ORDER_SUITE = '''
import os

import role_marker  # a module only the build of each role holds: which commit this process runs


class Order:
    number = 1
    repeat = 1

    def setup(self):
        with open(os.environ["PAIRED_ORDER_LOG"], "a") as log:
            log.write(f"{role_marker.ROLE} {os.getpid()}\\n")

    def time_nothing(self):
        pass
'''


def test_the_commit_set_up_first_alternates_between_process_pairs(tmp_path):
    suite = _write_suite(tmp_path, "order", ORDER_SUITE)
    builds = {}
    for role in ("baseline", "current"):
        site = tmp_path / f"site-{role}"
        site.mkdir()
        (site / "role_marker.py").write_text(f"ROLE = {role!r}\n")
        builds[role] = Build(sys.executable, site)
    log = tmp_path / "order.log"
    target = Target("order.Order.time_nothing")
    measured = measure_pairs([target], builds, suite, dict(_env(), PAIRED_ORDER_LOG=str(log)), process_pairs=3,
                             at_once=1)  # one pair after the other, so the log is in pair order
    assert not measured[target].problems and len(measured[target].values) == 3
    first_seen = {}  # pid -> role, in the order the processes first set the benchmark up
    for line in log.read_text().splitlines():
        role, pid = line.split()
        first_seen.setdefault(pid, role)
    roles = list(first_seen.values())
    assert len(roles) == 6  # three process pairs of two processes
    # the commit set up (and calibrated) first: the baseline, then the current, then the baseline
    assert roles == ["baseline", "current", "current", "baseline", "baseline", "current"], roles


def test_each_two_block_pairs_hold_both_orders():
    roles = ("baseline", "current")
    for seed in ("storage.A.time_x|0", "storage.A.time_x|1", "retrieval.B.time_y(1)|3"):
        orders = [block_order(roles, i, seed) for i in range(8)]
        assert all({orders[i], orders[i + 1]} == {roles, roles[::-1]} for i in range(0, 8, 2)), orders
        assert orders == [block_order(roles, i, seed) for i in range(8)]  # seeded: the same every time


def test_two_process_pairs_measuring_at_once_are_not_in_lockstep():
    # pairs 0 and 1 run at the same time on the two cores with opposite leads; strict alternation put
    # pair 0's baseline beside pair 1's current in every block pair (agreement 0 of 8)
    agree = []
    for n in range(100):
        label = f"storage.Bench.time_{n}"
        first = [block_order(("baseline", "current"), i, f"{label}|0")[0] for i in range(8)]
        other = [block_order(("current", "baseline"), i, f"{label}|1")[0] for i in range(8)]
        agree.append(sum(a == b for a, b in zip(first, other)) / 8)
    share = sum(agree) / len(agree)
    assert 0.35 < share < 0.65, share
    assert min(agree) < 0.5 < max(agree)
