"""Integration: API overhead, hook overhead, real agent loops (category 6).

Grids: ``integration.operations_per_test`` (operations, or environment steps, per measurement) and
``integration.concurrent_clients``.  Real agents: a Gymnasium CartPole loop and a small Mesa model
whose agents store and query memories every step; ``memory`` "off" runs the same loop without a
memory system, so the per-step overhead of memory is the difference.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Callable, Iterator, List, Sequence

from .conventions import metrics, sampled
from .lifecycle import SystemBenchmark
from .settings import CONFIG, roomy, sorted_unique
from .systems import fresh_system
from .workloads import test_states

AGENT = "benchmark_agent"
OPS = int(CONFIG.integration.operations_per_test)
CLIENTS = sorted_unique(CONFIG.integration.concurrent_clients)
PRELOAD = 1000
OPERATIONS = ["store", "read", "search"]
MESA_AGENTS = 10
MESA_STEPS = max(5, OPS // MESA_AGENTS)
#: Each side of an overhead pair runs at least this long: a side whose one call is shorter makes
#: several calls (the count is set once, in prepare).
PAIR_SECONDS = 0.02


# ---- overhead percent: one sample = one interleaved pair ------------------------------------

def _seconds_per_call(calls: Sequence[Callable[[], Any]]) -> float:
    """Wall seconds per call of running the zero-argument callables `calls` back to back."""
    clock = time.perf_counter
    t0 = clock()
    for call in calls:
        call()
    return (clock() - t0) / len(calls)


def _calls_lasting(seconds_of_one: Callable[[], float]) -> int:
    """How many calls make a side last PAIR_SECONDS (at least 1), from ``seconds_of_one()``, the time
    of one call, measured twice: a warm-up, then the estimate."""
    seconds_of_one()
    return max(1, min(10_000, math.ceil(PAIR_SECONDS / max(seconds_of_one(), 1e-9))))


def _repeated(call: Callable[[], Any]) -> List[Callable[[], Any]]:
    """One side of a pair whose every call does the same work (`call` warmed up): `call` as many
    times as last PAIR_SECONDS."""
    return [call] * _calls_lasting(lambda: _seconds_per_call([call]))


def _overhead_pair(reference: Sequence[Callable[[], Any]], candidate: Sequence[Callable[[], Any]],
                   reference_first: bool) -> float:
    """One overhead sample: the two sides run back to back (reference first or second), so drift on
    the machine hits both; 100 * (candidate - reference) / reference, in time per call."""
    if reference_first:
        ref = _seconds_per_call(reference)
        cand = _seconds_per_call(candidate)
    else:
        cand = _seconds_per_call(candidate)
        ref = _seconds_per_call(reference)
    return 100.0 * (cand - ref) / ref


def _turns() -> Iterator[bool]:
    """Whether the reference goes first, for successive pairs: so neither side always runs warmer."""
    return itertools.cycle((True, False))


# ---- API overhead ---------------------------------------------------------------------------

class _ApiBase(SystemBenchmark):
    def _build(self):
        from memory.api import MemoryAPI

        self.system = self.new_system("memory", **roomy(PRELOAD + 4 * OPS))
        self.api = MemoryAPI(self.system)
        self.ids = self.system.store_agent_states(AGENT, test_states(PRELOAD, 1), list(range(PRELOAD)))
        self.new_states = test_states(OPS, 1, seed=21)
        self.next_step = PRELOAD

    def _ops(self, target, operation):
        if operation == "store":  # into a new agent each call: no call pays for the ones before
            step = self.next_step
            self.next_step += OPS
            agent = f"{AGENT}-{step}"
            for i, state in enumerate(self.new_states):
                target.store_agent_state(agent, state, step + i)
        elif operation == "read":
            ids = self.ids
            for i in range(OPS):
                target.retrieve_state(ids[(i * 7919) % PRELOAD])
        else:
            for state in self.new_states:
                target.retrieve_similar_states(AGENT, state, k=5)


class ApiOverhead(_ApiBase):
    """The same operations through MemoryAPI and directly on AgentMemorySystem."""

    params = [OPERATIONS, ["direct", "api"]]
    param_names = ["operation", "path"]
    items_per_call = OPS
    ops_per_call = OPS

    def prepare(self, operation, path):
        self._build()
        self.target = self.api if path == "api" else self.system

    @metrics("api_time_seconds")
    def time_operations(self, operation, path):
        """OPS stores, reads by id or similarity searches (k=5 over PRELOAD memories) through the path."""
        self._ops(self.target, operation)


class ApiOverheadPercent(_ApiBase):
    """MemoryAPI's overhead over direct calls, in percent."""

    params = [OPERATIONS]
    param_names = ["operation"]

    def prepare(self, operation):
        self._build()
        self.direct = _repeated(lambda: self._ops(self.system, operation))
        self.through_api = _repeated(lambda: self._ops(self.api, operation))
        self.turns = _turns()

    @metrics("overhead_percent")
    @sampled
    def track_overhead_percent(self, operation):
        """100 * (api time - direct time) / direct time; one sample = one pair, OPS operations
        directly and through MemoryAPI back to back (order alternating between samples)."""
        return _overhead_pair(self.direct, self.through_api, next(self.turns))

    track_overhead_percent.unit = "percent"


class ConcurrentClients(_ApiBase):
    """Several threads calling one MemoryAPI at once (stores and reads, OPS each)."""

    parallel = True  # client threads: measured on every core

    params = [CLIENTS]
    param_names = ["clients"]
    items_per_call = ("clients", 2, OPS)
    ops_per_call = ("clients", 2, OPS)

    def prepare(self, clients):
        self._build()
        pool = ThreadPoolExecutor(max_workers=clients)
        list(pool.map(lambda _: None, range(clients)))
        self.defer(lambda: pool.shutdown(wait=True))
        self.pool = pool
        self.round = 0

    def _client(self, index):
        agent = f"client_{index}"
        ids = [self.api.store_agent_state(agent, state, i) for i, state in enumerate(self.new_states)]
        for mid in ids:
            self.api.retrieve_state(mid)

    @metrics("throughput_ops_per_second")
    def time_concurrent_clients(self, clients):
        """Each client stores OPS states under its own agent id and reads them back."""
        list(self.pool.map(self._client, range(clients)))


# ---- hooks ----------------------------------------------------------------------------------

class PlainAgent:
    """A minimal agent: observe an observation, act on it.  No memory."""

    def __init__(self, agent_id, memory_system=None):
        self.agent_id = agent_id
        self.memory_system = memory_system
        self.last = None

    def observe(self, observation):
        self.last = observation
        return observation

    def act(self, observation):
        return {"action": "move", "direction": "east" if observation.get("step_count", 0) % 2 else "west"}


class ManualAgent(PlainAgent):
    """The same agent storing its states and actions by explicit calls."""

    def __init__(self, agent_id, memory_system=None):
        super().__init__(agent_id, memory_system)
        self.step = 0

    def observe(self, observation):
        self.memory_system.store_agent_state(self.agent_id, observation, self.step)
        return super().observe(observation)

    def act(self, observation):
        action = super().act(observation)
        self.memory_system.store_agent_action(self.agent_id, action, self.step)
        self.step += 1
        return action


def _hooked_class():
    from memory.api.hooks import install_memory_hooks

    return install_memory_hooks(type("HookedAgent", (PlainAgent,), {}))


class HookOverhead(SystemBenchmark):
    """An agent's observe+act loop: without memory, with explicit store calls, with memory hooks."""

    params = [["none", "manual", "hooks"]]
    param_names = ["mode"]
    items_per_call = OPS
    ops_per_call = OPS

    def prepare(self, mode):
        self.observations = list(test_states(OPS, 1, seed=31))
        self.agent = self._agent(mode)

    def _agent(self, mode):
        if mode == "none":
            return PlainAgent(AGENT)
        system = self.new_system("memory", ltm="memory", **roomy(4 * OPS))
        return ManualAgent(AGENT, system) if mode == "manual" else _hooked_class()(AGENT, system)

    @metrics("hook_time_seconds")
    def time_agent_steps(self, mode):
        """OPS steps of observe(observation) then act(observation)."""
        agent = self.agent
        for observation in self.observations:
            agent.observe(observation)
            agent.act(observation)


class HookOverheadPercent(SystemBenchmark):
    """Memory hooks against explicit store calls doing the same work, in percent."""

    params = [["manual", "none"]]
    param_names = ["reference"]

    def prepare(self, reference):
        self.observations = list(test_states(OPS, 1, seed=31))
        baseline, hooked = self._agent(reference), self._agent("hooks")
        self.reference = _repeated(lambda: self._loop(baseline))
        self.hooked = _repeated(lambda: self._loop(hooked))
        self.turns = _turns()

    def _agent(self, kind):
        if kind == "none":
            return PlainAgent(AGENT)
        system = self.new_system("memory", ltm="memory", **roomy(4 * OPS))
        return ManualAgent(AGENT, system) if kind == "manual" else _hooked_class()(AGENT, system)

    def _loop(self, agent):
        for observation in self.observations:
            agent.observe(observation)
            agent.act(observation)

    @metrics("overhead_percent")
    @sampled
    def track_overhead_percent(self, reference):
        """100 * (hooks - reference) / reference; reference "manual" isolates the hook mechanism,
        "none" (an agent without memory) gives the whole cost of remembering.  One sample = one pair,
        OPS steps of each agent back to back (order alternating between samples)."""
        return _overhead_pair(self.reference, self.hooked, next(self.turns))

    track_overhead_percent.unit = "percent"


# ---- real agents: Gymnasium CartPole ---------------------------------------------------------

def _cartpole_policy(obs) -> int:
    return 1 if obs[2] + 0.5 * obs[3] > 0 else 0


class CartPoleRunner:
    """A CartPole-v1 environment driven by a fixed balancing policy; with a memory system the agent
    stores its state and action and queries its 3 most similar states every step."""

    def __init__(self, system=None, steps: int = OPS):
        import gymnasium as gym

        self.env = gym.make("CartPole-v1")
        self.obs, _ = self.env.reset(seed=0)
        self.system, self.steps = system, steps
        self.episode = self.step_no = 0

    def close(self):
        self.env.close()

    def run(self):
        env, system, obs = self.env, self.system, self.obs
        for _ in range(self.steps):
            action = _cartpole_policy(obs)
            if system is not None:
                state = {"cart_position": float(obs[0]), "cart_velocity": float(obs[1]),
                         "pole_angle": float(obs[2]), "pole_velocity": float(obs[3]), "episode": self.episode}
                system.store_agent_state("cartpole", state, self.step_no)
                system.store_agent_action("cartpole", {"push": "right" if action else "left"}, self.step_no)
                system.retrieve_similar_states("cartpole", state, k=3)
            obs, _reward, terminated, truncated, _ = env.step(action)
            self.step_no += 1
            if terminated or truncated:
                self.episode += 1
                obs, _ = env.reset(seed=self.episode)
        self.obs = obs


def _cartpole(benchmark: SystemBenchmark, memory: bool) -> CartPoleRunner:
    system = benchmark.new_system("memory", ltm="memory", **roomy(2 * OPS)) if memory else None
    runner = CartPoleRunner(system)
    benchmark.defer(runner.close)
    return runner


@contextlib.contextmanager
def _fresh_cartpole() -> Iterator[CartPoleRunner]:
    """A CartPole runner with memory on a fresh, empty system, closed and removed on exit."""
    with fresh_system("memory", ltm="memory", **roomy(2 * OPS)) as system:
        runner = CartPoleRunner(system)
        try:
            yield runner
        finally:
            runner.close()


class CartPoleLoop(SystemBenchmark):
    """A Gymnasium CartPole-v1 loop; with memory the agent stores its state and action and queries
    similar states every step."""

    params = [["off", "on"]]
    param_names = ["memory"]
    items_per_call = OPS
    ops_per_call = OPS

    def prepare(self, memory):
        self.runner = _cartpole(self, memory == "on")

    @metrics("per_step_time_seconds")
    def time_steps(self, memory):
        """OPS environment steps (episodes restart when they end)."""
        self.runner.run()


def _fresh_seconds(fresh: Callable[[], Any], run: Callable[[Any], Any]) -> float:
    """Seconds of ``run(x)`` on a new ``x`` entered from the context manager ``fresh()``."""
    with fresh() as x:
        return _seconds_per_call([lambda: run(x)])


class CartPoleOverheadPercent(SystemBenchmark):
    """Per-step overhead of memory in the CartPole loop, in percent."""

    def prepare(self):
        self.off = _repeated(_cartpole(self, False).run)
        # with memory each run starts from an empty system: the search cost grows with what is stored
        self.on_runs = _calls_lasting(lambda: _fresh_seconds(_fresh_cartpole, CartPoleRunner.run))
        self.turns = _turns()

    @metrics("overhead_percent")
    @sampled
    def track_overhead_percent(self):
        """100 * (time with memory - time without) / time without; one sample = one pair, OPS steps
        without memory and OPS steps with a fresh memory system back to back (order alternating)."""
        with contextlib.ExitStack() as stack:
            on = [stack.enter_context(_fresh_cartpole()).run for _ in range(self.on_runs)]
            return _overhead_pair(self.off, on, next(self.turns))

    track_overhead_percent.unit = "percent"


# ---- real agents: a small Mesa model ---------------------------------------------------------

def _mesa_model(memory_system, n_agents: int, seed: int = 0):
    import mesa

    class Forager(mesa.Agent):
        def __init__(self, model):
            super().__init__(model)
            self.pos_xy = [model.random.uniform(0, 50), model.random.uniform(0, 50)]
            self.energy = 10.0
            self.mood = "calm"

        def step(self):
            rnd = self.model.random
            self.pos_xy = [min(50.0, max(0.0, c + rnd.uniform(-1, 1))) for c in self.pos_xy]
            self.energy += rnd.uniform(-0.5, 0.6)
            if rnd.random() < 0.1:
                self.mood = rnd.choice(("calm", "hungry", "curious", "afraid"))
            memory = self.model.memory
            if memory is not None:
                agent_id = f"forager_{self.unique_id}"
                step = self.model.steps
                state = {"position": list(self.pos_xy), "energy": self.energy, "mood": self.mood}
                memory.store_agent_state(agent_id, state, step)
                similar = memory.retrieve_similar_states(agent_id, state, k=3)
                recent = memory.retrieve_by_time_range(agent_id, max(0, step - 5), step)
                if similar and recent and similar[0]["content"]["mood"] == "afraid":
                    self.energy -= 0.1

    class ForagingModel(mesa.Model):
        def __init__(self, memory, n, seed):
            super().__init__(seed=seed)
            self.memory = memory
            for _ in range(n):
                Forager(self)

        def step(self):
            self.agents.shuffle_do("step")

    return ForagingModel(memory_system, n_agents, seed)


class MesaModelLoop(SystemBenchmark):
    """A Mesa model of MESA_AGENTS foragers; with memory each agent stores its state and queries
    similar states and its last five steps every step."""

    params = [["off", "on"]]
    param_names = ["memory"]
    items_per_call = MESA_STEPS * MESA_AGENTS  # agent-steps
    ops_per_call = MESA_STEPS

    def prepare(self, memory):
        system = self.new_system("memory", ltm="memory", **roomy(MESA_STEPS * MESA_AGENTS * 2)) if memory == "on" else None
        self.model = _mesa_model(system, MESA_AGENTS)

    @metrics("per_step_time_seconds")
    def time_model_steps(self, memory):
        """MESA_STEPS model steps."""
        for _ in range(MESA_STEPS):
            self.model.step()


def _mesa_steps(model) -> None:
    for _ in range(MESA_STEPS):
        model.step()


@contextlib.contextmanager
def _fresh_mesa() -> Iterator[Any]:
    """A Mesa model with memory on a fresh, empty system, closed and removed on exit."""
    with fresh_system("memory", ltm="memory", **roomy(MESA_STEPS * MESA_AGENTS * 2)) as system:
        yield _mesa_model(system, MESA_AGENTS)


class MesaOverheadPercent(SystemBenchmark):
    """Per-step overhead of memory in the Mesa model, in percent."""

    def prepare(self):
        off_model = _mesa_model(None, MESA_AGENTS)
        self.off = _repeated(lambda: _mesa_steps(off_model))
        # with memory each run is a fresh model on an empty system: queries cost more as memories grow
        self.on_runs = _calls_lasting(lambda: _fresh_seconds(_fresh_mesa, _mesa_steps))
        self.turns = _turns()

    @metrics("overhead_percent")
    @sampled
    def track_overhead_percent(self):
        """100 * (time with memory - time without) / time without; one sample = one pair, MESA_STEPS
        steps without memory and MESA_STEPS steps of a fresh model with memory (order alternating)."""
        with contextlib.ExitStack() as stack:
            on = [partial(_mesa_steps, stack.enter_context(_fresh_mesa())) for _ in range(self.on_runs)]
            return _overhead_pair(self.off, on, next(self.turns))

    track_overhead_percent.unit = "percent"
