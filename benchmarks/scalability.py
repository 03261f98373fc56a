"""Scalability: agent-count scaling, memory-size scaling, resource use (category 5).

Grids: ``scalability.agent_counts``, ``scalability.memory_sizes``, ``scalability.parallel_operations``
(worker threads or processes).  Each agent runs the seed's workload: 10 stores, 5 reads of its own
memories, 3 similarity searches.  Modes: threads on one shared system (memory and Redis backends),
and processes on the Redis backend (each worker process opens its own system on the same namespace).
SharedDeploymentScaling runs the fully shared deployment: worker processes on shared agents, STM and
IM on Redis, LTM shared too (``ltm_backend``: PostgreSQL, or one SQLite file every process opens), with
tier limits small enough that the workload moves memories into LTM as it runs.
"""

from __future__ import annotations

import itertools
import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterable, List, Sequence, Set, Tuple

from .backends import make_config
from .conventions import metrics, sampled
from .lifecycle import SystemBenchmark
from .settings import BACKENDS, CONFIG, LTM_BACKENDS, NO_AUTO_CLEANUP, roomy, sorted_unique
from .workloads import test_states

AGENT_COUNTS = sorted_unique(CONFIG.scalability.agent_counts)
MEMORY_SIZES = sorted_unique(CONFIG.scalability.memory_sizes)
WORKERS = sorted_unique(CONFIG.scalability.parallel_operations)
MODES = ["threads-memory", "threads-redis", "processes-redis"]
STORES, READS, SEARCHES = 10, 5, 3
OPS_PER_AGENT = STORES + READS + SEARCHES
SIZE_OPS = 100  # operations per call in memory-size scaling
CPU_OPS = 1000


def agent_round(system, agent_index: int, round_index: int = 0) -> List[str]:
    """The seed's per-agent workload on `system` (its stores at steps of round `round_index`); returns
    the ids of the memories it stored."""
    agent = f"agent_{agent_index}"
    states = test_states(STORES, 1, seed=agent_index)
    base = round_index * STORES
    ids = [system.store_agent_state(agent, state, base + i) for i, state in enumerate(states)]
    for mid in ids[:READS]:
        system.retrieve_state(mid)
    for state in states[:SEARCHES]:
        system.retrieve_similar_states(agent, state, k=5)
    return ids


def agent_workload(system, agent_index: int, round_index: int = 0) -> int:
    """The seed's per-agent workload on `system`; returns the number of operations done."""
    agent_round(system, agent_index, round_index)
    return OPS_PER_AGENT


# ---- worker processes (Redis backend): one system per process, shared namespace -------------
_WORKER_SYSTEM = None


def _worker_init(config_dict):
    global _WORKER_SYSTEM
    from memory import AgentMemorySystem, MemoryConfig

    _WORKER_SYSTEM = AgentMemorySystem(MemoryConfig.from_dict(config_dict))


def _worker_run(args):
    agent_index, round_index = args
    return agent_workload(_WORKER_SYSTEM, agent_index, round_index)


def _worker_close(_):
    global _WORKER_SYSTEM
    if _WORKER_SYSTEM is not None:
        _WORKER_SYSTEM.close()
        _WORKER_SYSTEM = None
    return 0


class AgentCountScaling(SystemBenchmark):
    """N agents each running the seed workload concurrently (threads or processes)."""

    parallel = True  # threads or worker processes: measured on every core

    params = [AGENT_COUNTS, WORKERS, MODES]
    param_names = ["agents", "workers", "mode"]
    items_per_call = ("agents", OPS_PER_AGENT)
    ops_per_call = ("agents", OPS_PER_AGENT)

    def prepare(self, agents, workers, mode):
        kind, backend = mode.split("-")
        self.system = self.new_system(backend, **roomy(agents * STORES * 50))
        self.pairs = itertools.count(1)  # the scaling track's pairs (round 0 is time_agent_workload's)
        self.warmed = False
        if kind == "threads":
            pool = ThreadPoolExecutor(max_workers=workers)
            list(pool.map(lambda _: None, range(workers)))  # start the threads before timing
            self.defer(lambda: pool.shutdown(wait=True))
            self.dispatch = lambda agent_ids, r: sum(pool.map(lambda a: agent_workload(self.system, a, r), agent_ids))
        else:
            config = make_config(backend, namespace=self.namespace, db_path=":memory:",
                                 **roomy(agents * STORES * 50)).to_dict()
            ctx = multiprocessing.get_context("fork")
            proc_pool = ctx.Pool(workers, initializer=_worker_init, initargs=(config,))

            def close_pool():
                try:
                    proc_pool.map(_worker_close, range(workers * 4), chunksize=1)
                finally:
                    proc_pool.close()
                    proc_pool.join()

            self.defer(close_pool)
            self.dispatch = lambda agent_ids, r: sum(proc_pool.map(_worker_run, [(a, r) for a in agent_ids], chunksize=1))

    @metrics("throughput_ops_per_second", "total_time_seconds", "items_processed")
    def time_agent_workload(self, agents, workers, mode):
        """All agents' workloads, dispatched over the workers."""
        self.dispatch(range(agents), 0)

    def _ops_per_second(self, agent_ids, round_index) -> float:
        t0 = time.perf_counter()
        ops = self.dispatch(agent_ids, round_index)
        return ops / (time.perf_counter() - t0)

    @metrics("scaling_efficiency")
    @sampled
    def track_scaling_efficiency(self, agents, workers, mode):
        """(operations/s with N agents) / (operations/s with one agent): 1.0 = per-operation cost
        independent of the number of agents; > 1 = speed-up.  One sample = one pair, one agent and
        N agents back to back (which goes first alternates between samples)."""
        if not self.warmed:  # once, before the first sample: warm up every agent and worker
            self.dispatch(range(agents), 0)
            self.warmed = True
        pair = next(self.pairs)  # rounds 2*pair and 2*pair+1: stored steps never repeat
        if pair % 2:
            one = self._ops_per_second([0], 2 * pair)
            many = self._ops_per_second(range(agents), 2 * pair + 1)
        else:
            many = self._ops_per_second(range(agents), 2 * pair + 1)
            one = self._ops_per_second([0], 2 * pair)
        return many / one

    track_scaling_efficiency.unit = "ratio"


class MemorySizeScaling(SystemBenchmark):
    """Store, read and search latency as the number of memories held grows."""

    params = [MEMORY_SIZES, ["store", "read", "search"], BACKENDS]
    param_names = ["memory_size", "operation", "backend"]
    items_per_call = SIZE_OPS
    ops_per_call = SIZE_OPS

    def prepare(self, memory_size, operation, backend):
        self.system = self.new_system(backend, **roomy(memory_size + SIZE_OPS))
        agent = "benchmark_agent"
        self.ids = self.system.store_agent_states(agent, test_states(memory_size, 1), list(range(memory_size)))
        self.new_states = test_states(SIZE_OPS, 1, seed=99)
        stride = 7919
        self.read_ids = [self.ids[(i * stride) % memory_size] for i in range(SIZE_OPS)]
        self.first_step = memory_size
        self.agent = agent

    @metrics("store_latency_seconds", "read_latency_seconds", "search_latency_seconds")
    def time_operation(self, memory_size, operation, backend):
        """SIZE_OPS operations of the given kind."""
        s, agent = self.system, self.agent
        if operation == "store":
            step = self.first_step
            for i, state in enumerate(self.new_states):
                s.store_agent_state(agent, state, step + i)
        elif operation == "read":
            for mid in self.read_ids:
                s.retrieve_state(mid)
        else:
            for state in self.new_states:
                s.retrieve_similar_states(agent, state, k=5)


class ResourceUse(SystemBenchmark):
    """Peak memory of loading and searching a volume; CPU seconds per 1 000 seed-mix operations."""

    params = [MEMORY_SIZES, BACKENDS]
    param_names = ["memory_size", "backend"]
    items_per_call = "memory_size"

    def prepare(self, memory_size, backend):
        self.system = self.new_system(backend, **roomy(memory_size + CPU_OPS))
        self.states = test_states(memory_size, 1)
        self.next_round = None  # the CPU track's next round index; None until the volume is stored

    @metrics("peak_memory_bytes")
    def peakmem_load_and_search(self, memory_size, backend):
        """store_agent_states of memory_size states, then 10 similarity searches."""
        self.system.store_agent_states("benchmark_agent", self.states, list(range(memory_size)))
        for state in self.states[:10]:
            self.system.retrieve_similar_states("benchmark_agent", state, k=5)

    @metrics("cpu_seconds_per_1000_ops")
    @sampled
    def track_cpu_seconds_per_1000_ops(self, memory_size, backend):
        """Process CPU time (this process only, not the Redis server) of 1 000 operations in the seed
        workload's mix (10 stores : 5 reads : 3 searches) on top of memory_size memories.  One sample
        = one CPU-time measurement of the mix (the memory_size states are stored once, before the first)."""
        if self.next_round is None:  # before the first sample only: the volume, and a warm-up round
            self.system.store_agent_states("benchmark_agent", self.states, list(range(memory_size)))
            agent_workload(self.system, 0, memory_size)
            self.next_round = memory_size + 1
        rounds = CPU_OPS // OPS_PER_AGENT + 1
        first, self.next_round = self.next_round, self.next_round + rounds  # steps never repeat
        t0 = time.process_time()
        done = 0
        for i in range(rounds):
            done += agent_workload(self.system, i % 8, first + i)
        return (time.process_time() - t0) * 1000.0 / done

    track_cpu_seconds_per_1000_ops.unit = "seconds"


# ---- the fully shared deployment: worker processes on shared agents, every tier shared ----------
SHARED_AGENTS = 4    # agents every call works on; an agent's rounds go to different processes
SHARED_ROUNDS = 2    # rounds of the seed workload per agent and call
SHARED_LIMIT = STORES // 2  # STM and IM hold half a round each: from the second round on, each round moves 10 into LTM
WARM_ROUNDS = 1      # rounds stored before the clock starts, so that STM and IM are full
#: The TTL the final maintenance sets (policy fields are read at every call): every memory leaves STM,
#: then IM, so LTM holds all of them.
FLUSH_TTL = 1e-6
LAST_STEP = 2 ** 53


def ltm_view(system, agents: Iterable[str]) -> Tuple[List[str], int]:
    """What `system` sees in LTM of `agents`: the ids of the memories there (by step range) and the rows
    its statistics count."""
    ids: List[str] = []
    rows = 0
    for agent in agents:
        ids += [m["memory_id"] for m in system.retrieve_by_time_range(agent, 0, LAST_STEP) if m["tier"] == "ltm"]
        rows += int(system.get_memory_statistics(agent)["tiers"]["ltm"]["count"])
    return ids, rows


def found_fraction(written: Set[str], views: Sequence[Tuple[List[str], int]]) -> float:
    """The worst view's share of the `written` memories found in LTM exactly once: (found - anything
    else seen) / written, so 1.0 means every process sees all of them and nothing more."""
    worst = 1.0
    for ids, rows in views:
        found = len(written.intersection(ids))
        extra = max(len(ids), rows) - found
        worst = min(worst, (found - extra) / len(written))
    return worst


def _shared_worker(link, config_dict: Dict[str, Any]) -> None:
    """A worker process of SharedProcesses: one system on the shared config, serving commands on `link`
    (("work", [(agent index, round), ...]) -> the ids stored; ("view", agents) -> its ltm_view; ("close",
    None) ends it).  Replies are ("ok", result), or ("error", why) and the worker ends."""
    from memory import AgentMemorySystem, MemoryConfig

    system = None
    try:
        system = AgentMemorySystem(MemoryConfig.from_dict(config_dict))
        link.send(("ok", None))
        while True:
            command, arg = link.recv()
            if command == "close":
                return
            if command == "work":
                result: Any = [mid for agent, round_index in arg for mid in agent_round(system, agent, round_index)]
            else:
                result = ltm_view(system, arg)
            link.send(("ok", result))
    except EOFError:  # the benchmark process is gone
        pass
    except Exception as exc:
        link.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        if system is not None:
            system.close()


class SharedProcesses:
    """`n` worker processes, each with its own system on one config (the same namespace, servers and LTM):
    commands go to chosen workers and run in parallel; every worker can be asked what it sees."""

    def __init__(self, n: int, config: Dict[str, Any]) -> None:
        ctx = multiprocessing.get_context("fork")
        self.links, self.processes = [], []
        try:
            for _ in range(n):
                parent, child = ctx.Pipe()
                process = ctx.Process(target=_shared_worker, args=(child, config), daemon=True)
                process.start()
                child.close()
                self.links.append(parent)
                self.processes.append(process)
            self.collect(range(n))  # every worker's system is built before anything is timed
        except BaseException:
            self.close()
            raise

    def ask(self, commands: Dict[int, Tuple[str, Any]]) -> Dict[int, Any]:
        """Send each worker its command, then wait for every reply ({worker: result}); a worker's error raises."""
        for worker, command in commands.items():
            self.links[worker].send(command)
        return self.collect(commands)

    def collect(self, workers: Iterable[int]) -> Dict[int, Any]:
        """Every reply of `workers` ({worker: result}); RuntimeError naming the workers that failed."""
        replies = {}
        for worker in workers:
            try:
                replies[worker] = self.links[worker].recv()
            except EOFError:
                replies[worker] = ("error", f"exit code {self.processes[worker].exitcode}")
        failed = [f"worker {w}: {result}" for w, (status, result) in replies.items() if status != "ok"]
        if failed:
            raise RuntimeError("shared deployment: " + "; ".join(failed))
        return {worker: result for worker, (_, result) in replies.items()}

    def work(self, rounds: Sequence[int]) -> List[str]:
        """Each of SHARED_AGENTS agents' workload of each of `rounds`: round r of agent a goes to worker
        (a + r) mod n, so the processes share every agent.  Returns the ids stored."""
        tasks: Dict[int, List[Tuple[int, int]]] = {}
        for r in rounds:
            for agent in range(SHARED_AGENTS):
                tasks.setdefault((agent + r) % len(self.links), []).append((agent, r))
        replies = self.ask({worker: ("work", batch) for worker, batch in tasks.items()})
        return [mid for ids in replies.values() for mid in ids]

    def views(self, agents: List[str]) -> List[Tuple[List[str], int]]:
        """Every worker's ltm_view of `agents`."""
        return list(self.ask({worker: ("view", agents) for worker in range(len(self.links))}).values())

    def close(self) -> None:
        """Close every worker's system and wait for the processes to end."""
        for link in self.links:
            try:
                link.send(("close", None))
            except OSError:  # the worker is gone already
                pass
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
        for link in self.links:
            link.close()


class SharedDeploymentScaling(SystemBenchmark):
    """The fully shared deployment: N worker processes on shared agents, STM and IM on Redis, LTM on
    PostgreSQL (or one SQLite file all of them open), memories moving into LTM as the workload runs."""

    parallel = True  # worker processes: measured on every core

    params = [WORKERS, LTM_BACKENDS]
    param_names = ["processes", "ltm_backend"]
    items_per_call = (SHARED_AGENTS, SHARED_ROUNDS, OPS_PER_AGENT)
    ops_per_call = (SHARED_AGENTS, SHARED_ROUNDS, OPS_PER_AGENT)

    def prepare(self, processes, ltm_backend):
        limits = {"stm_limit": SHARED_LIMIT, "im_limit": SHARED_LIMIT, "discard_threshold": 0.0}
        # this process's own system: the namespace (and SQLite file) every worker opens, the final check
        self.system = self.new_system("redis", ltm_backend=ltm_backend, cleanup_interval=NO_AUTO_CLEANUP, **limits)
        config = make_config("redis", namespace=self.namespace, db_path=self.system.ltm_path or ":memory:",
                             ltm_backend=ltm_backend, cleanup_interval=STORES, **limits).to_dict()
        self.workers = SharedProcesses(processes, config)
        self.defer(self.workers.close)
        self.written = set(self.workers.work(range(WARM_ROUNDS)))
        self.rounds = itertools.count(WARM_ROUNDS, SHARED_ROUNDS)  # stored steps never repeat

    def dispatch(self) -> None:
        first = next(self.rounds)
        self.written.update(self.workers.work(range(first, first + SHARED_ROUNDS)))

    @metrics("throughput_ops_per_second", "total_time_seconds", "items_processed")
    def time_shared_workload(self, processes, ltm_backend):
        """SHARED_ROUNDS rounds of the seed workload for each of SHARED_AGENTS agents, over the processes.

        Each process's own maintenance moves memories through the shared tiers into LTM as it runs."""
        self.dispatch()

    @metrics("ltm_found_fraction", kind="deterministic")
    def track_ltm_found_fraction(self, processes, ltm_backend):
        """Share of all memories written that every process finds in LTM exactly once (1.0 = one memory).

        After one measured call and a final maintenance moving every memory into LTM, each worker and
        this process list what they see in LTM; the worst of them is the value (found_fraction)."""
        self.dispatch()
        agents = [f"agent_{a}" for a in range(SHARED_AGENTS)]
        config = self.system.config
        config.stm_config.ttl = FLUSH_TTL
        self.system.force_memory_maintenance()  # STM -> IM (IM records keep the long Redis expiry)
        config.im_config.ttl = FLUSH_TTL
        time.sleep(0.01)  # so that the memories just moved into IM are older than FLUSH_TTL
        self.system.force_memory_maintenance()  # IM -> LTM
        return found_fraction(self.written, self.workers.views(agents) + [ltm_view(self.system, agents)])

    track_ltm_found_fraction.unit = "fraction"
