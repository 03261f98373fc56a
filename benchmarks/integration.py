"""Integration: API overhead, hook overhead, real agent loops (category 6).

Grids: ``integration.operations_per_test`` (operations, or environment steps, per measurement) and
``integration.concurrent_clients``.  Real agents: a Gymnasium CartPole loop and a small Mesa model
whose agents store and query memories every step; ``memory`` "off" runs the same loop without a
memory system, so the per-step overhead of memory is the difference.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from .common import CONFIG, NO_AUTO_CLEANUP, SystemBenchmark, metrics, sorted_unique, test_states

AGENT = "benchmark_agent"
OPS = int(CONFIG.integration.operations_per_test)
CLIENTS = sorted_unique(CONFIG.integration.concurrent_clients)
PRELOAD = 1000
OPERATIONS = ["store", "read", "search"]
MESA_AGENTS = 10
MESA_STEPS = max(5, OPS // MESA_AGENTS)
BEST_OF = 5


def _roomy(n: int) -> dict:
    room = max(int(n), 1000) + 1
    return {"stm_limit": room, "im_limit": room, "cleanup_interval": NO_AUTO_CLEANUP}


def _best_time(func, repeats: int = BEST_OF) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t0)
    return best


def _paired_overhead(reference, candidate, repeats: int = BEST_OF) -> float:
    """100 * (best candidate time - best reference time) / best reference time, the two run
    alternately (after one warm-up each) so a burst of load on the machine hits both."""
    reference()
    candidate()
    ref = cand = float("inf")
    clock = time.perf_counter
    for _ in range(repeats):
        t0 = clock()
        reference()
        ref = min(ref, clock() - t0)
        t0 = clock()
        candidate()
        cand = min(cand, clock() - t0)
    return 100.0 * (cand - ref) / ref


# ---- API overhead ---------------------------------------------------------------------------

class _ApiBase(SystemBenchmark):
    def _build(self):
        from memory.api import MemoryAPI

        self.system = self.new_system("memory", **_roomy(PRELOAD + 4 * OPS))
        self.api = MemoryAPI(self.system)
        self.ids = self.system.store_agent_states(AGENT, test_states(PRELOAD, 1), list(range(PRELOAD)))
        self.new_states = test_states(OPS, 1, seed=21)
        self.next_step = PRELOAD

    def _ops(self, target, operation):
        if operation == "store":
            step = self.next_step
            self.next_step += OPS
            for i, state in enumerate(self.new_states):
                target.store_agent_state(AGENT, state, step + i)
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
    """MemoryAPI's overhead over direct calls, in percent (best of 3 each)."""

    params = [OPERATIONS]
    param_names = ["operation"]

    def prepare(self, operation):
        self._build()

    @metrics("overhead_percent")
    def track_overhead_percent(self, operation):
        """100 * (api time - direct time) / direct time (best of 5, run alternately)."""
        return _paired_overhead(lambda: self._ops(self.system, operation), lambda: self._ops(self.api, operation))

    track_overhead_percent.unit = "percent"


class ConcurrentClients(_ApiBase):
    """Several threads calling one MemoryAPI at once (stores and reads, OPS each)."""

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
        system = self.new_system("memory", ltm="memory", **_roomy(4 * OPS))
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

    def _loop(self, agent):
        for observation in self.observations:
            agent.observe(observation)
            agent.act(observation)

    @metrics("overhead_percent")
    def track_overhead_percent(self, reference):
        """100 * (hooks - reference) / reference; reference "manual" isolates the hook mechanism,
        "none" (an agent without memory) gives the whole cost of remembering."""
        def fresh(kind):
            if kind == "none":
                return PlainAgent(AGENT)
            system = self.new_system("memory", ltm="memory", **_roomy(4 * OPS * (BEST_OF + 1)))
            return ManualAgent(AGENT, system) if kind == "manual" else _hooked_class()(AGENT, system)

        baseline, hooked = fresh(reference), fresh("hooks")
        return _paired_overhead(lambda: self._loop(baseline), lambda: self._loop(hooked))

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


def _cartpole(benchmark: SystemBenchmark, memory: bool, loops: int) -> CartPoleRunner:
    system = benchmark.new_system("memory", ltm="memory", **_roomy(2 * OPS * loops)) if memory else None
    runner = CartPoleRunner(system)
    benchmark.defer(runner.close)
    return runner


class CartPoleLoop(SystemBenchmark):
    """A Gymnasium CartPole-v1 loop; with memory the agent stores its state and action and queries
    similar states every step."""

    params = [["off", "on"]]
    param_names = ["memory"]
    items_per_call = OPS
    ops_per_call = OPS

    def prepare(self, memory):
        self.runner = _cartpole(self, memory == "on", 1)

    @metrics("per_step_time_seconds")
    def time_steps(self, memory):
        """OPS environment steps (episodes restart when they end)."""
        self.runner.run()


class CartPoleOverheadPercent(SystemBenchmark):
    """Per-step overhead of memory in the CartPole loop, in percent."""

    def prepare(self):
        self.off = _cartpole(self, False, BEST_OF + 1)
        self.on = _cartpole(self, True, BEST_OF + 1)

    @metrics("overhead_percent")
    def track_overhead_percent(self):
        """100 * (time with memory - time without) / time without (best of 5, run alternately)."""
        return _paired_overhead(self.off.run, self.on.run)

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
        system = self.new_system("memory", ltm="memory", **_roomy(MESA_STEPS * MESA_AGENTS * 2)) if memory == "on" else None
        self.model = _mesa_model(system, MESA_AGENTS)

    @metrics("per_step_time_seconds")
    def time_model_steps(self, memory):
        """MESA_STEPS model steps."""
        for _ in range(MESA_STEPS):
            self.model.step()


class MesaOverheadPercent(SystemBenchmark):
    """Per-step overhead of memory in the Mesa model, in percent."""

    def prepare(self):
        pass

    @metrics("overhead_percent")
    def track_overhead_percent(self):
        """100 * (time with memory - time without) / time without (fresh models, best of 5)."""
        def run(memory_on):
            system = self.new_system("memory", ltm="memory", **_roomy(MESA_STEPS * MESA_AGENTS * 2)) if memory_on else None
            model = _mesa_model(system, MESA_AGENTS)
            t0 = time.perf_counter()
            for _ in range(MESA_STEPS):
                model.step()
            return time.perf_counter() - t0

        off = on = float("inf")
        for _ in range(BEST_OF):  # alternately, so a burst of load hits both
            off = min(off, run(False))
            on = min(on, run(True))
        return 100.0 * (on - off) / off

    track_overhead_percent.unit = "percent"
