"""Fuzz the public API (AgentMemorySystem and the MemoryAPI facade) with garbage (issue #10).

Every call gets arbitrary arguments: nested states with lone surrogates, huge ints, NaN, odd types and
odd keyword values. The only exceptions allowed are the documented ones (memory.errors.*); a call that
raises stores nothing; and after every call the agent still works (a valid store, read, search and
maintenance succeed). One system per backend lives through all examples, with tiny tiers, so garbage
that slipped in would surface when it is moved to IM or LTM.
"""

from __future__ import annotations

import collections
import decimal
import enum
import math
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory import AgentMemoryError
from memory.api import MemoryAPI

HUGE_INTS = [2**63 - 1, 2**63, -2**63 - 1, 2**64, 10**400, -10**400, 10**4300 - 1, 10**4300, -10**5000]
STORABLE_INTS = [2**64, -2**63 - 1, 10**400, 10**4300 - 1, -10**4300 + 1]  # huge, but JSON writes them
SURROGATES = ["\ud800", "\udfff", "\udc80", "\ud83d"]


class Color(enum.IntEnum):
    RED = 1


class Text(str):
    pass


ODD_OBJECTS = [set(), {1, 2}, frozenset({"a"}), b"bytes", bytearray(b"x"), object(), 1 + 2j, decimal.Decimal("1.5"),
               np.float64(1.5), np.int64(3), np.bool_(True), np.array([1.0, 2.0]), range(3), Color.RED, Text("hi"),
               collections.OrderedDict(a=1), Ellipsis, print, type, math.nan, math.inf, -math.inf, -0.0, 5e-324]



def _huge(i: int) -> int:
    """The i-th huge int (drawn by index: hypothesis would repr a sampled_from list, and repr(10**5000) fails)."""
    return HUGE_INTS[i]


def _storable(i: int) -> int:
    """The i-th huge int that is still valid content."""
    return STORABLE_INTS[i]


huge_ints = st.integers(0, len(HUGE_INTS) - 1).map(_huge)
surrogate_text = st.builds(lambda a, s, b: a + s + b, st.text(max_size=4), st.sampled_from(SURROGATES),
                           st.text(max_size=4))
text = st.text(max_size=8) | surrogate_text
numbers = st.integers(-2**70, 2**70) | huge_ints | st.floats()
leaf = st.none() | st.booleans() | numbers | text | st.sampled_from(ODD_OBJECTS)
key = text | st.sampled_from([1, None, (1, 2), b"k", 2.5, Text("sub"), True])
tree = st.recursive(leaf, lambda inner: (st.lists(inner, max_size=5) | st.tuples(inner, inner)
                                         | st.dictionaries(key, inner, max_size=4)), max_leaves=20)
# valid states too (huge but storable ints, any text, any finite float), so garbage meets stored memories in moves
clean_leaf = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
              | st.text(max_size=8) | st.integers(0, len(STORABLE_INTS) - 1).map(_storable))
clean_tree = st.recursive(clean_leaf, lambda inner: (st.lists(inner, max_size=4) | st.tuples(inner, inner)
                                                     | st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                          max_leaves=12)


def mostly(valid: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """`valid` three times in four, else `bad`: most calls then have one bad argument, not all bad."""
    return st.integers(0, 3).flatmap(lambda i: bad if i == 0 else valid)


clean_state = st.dictionaries(st.text(max_size=6), clean_tree, max_size=5)
state = mostly(clean_state, st.dictionaries(key, tree, max_size=5) | tree)
garbage = tree | st.lists(state, max_size=3)
agent = mostly(st.sampled_from(["a", "b", "Zoë ✓"]), garbage)
scalar = numbers | st.sampled_from([None, "stm", "im", "ltm", "all", "state", "action", "", True, -1, 0])
bad = scalar | garbage
opt = mostly(st.just(None), bad)  # an optional keyword's value
store_tier = mostly(st.sampled_from(["stm", "im", "ltm"]), bad)
read_tier = mostly(st.sampled_from([None, "stm", "im", "ltm"]), bad)
search_tier = mostly(st.sampled_from(["all", "stm", "im", "ltm"]), bad)
mtype = mostly(st.sampled_from([None, "state", "action", "interaction"]), bad)
priority = mostly(st.floats(0, 5), bad)
threshold = mostly(st.none() | st.floats(-1, 1), bad)


def _ops(system: Any, api: MemoryAPI, ids: list[str]) -> dict[str, tuple[Callable, st.SearchStrategy]]:
    """name → (call, strategy of its kwargs): every public method of the system and of the facade."""
    mid = mostly(st.sampled_from(ids), garbage)
    step = mostly(st.integers(0, 50), scalar)
    k = mostly(st.integers(1, 5), scalar)
    small_epochs = st.integers(1, 2) | (scalar.filter(lambda v: not (type(v) is int and v > 2)))
    store = st.fixed_dictionaries({"agent_id": agent, "state_data": state, "step_number": step},
                                  optional={"priority": priority, "tier": store_tier})
    # the system and the API facade take the same arguments for these
    similar = st.fixed_dictionaries({"agent_id": agent, "query_state": state},
                                    optional={"k": k, "tier": search_tier, "memory_type": mtype, "threshold": threshold})
    step_range = st.fixed_dictionaries({"agent_id": agent, "start_step": step, "end_step": step},
                                       optional={"memory_type": mtype})
    return {
        "store_agent_state": (system.store_agent_state, store),
        "store_agent_action": (lambda **kw: system.store_agent_action(kw.pop("agent_id"), kw.pop("state_data"), **kw),
                               store),
        "store_agent_interaction": (lambda **kw: system.store_agent_interaction(
            kw.pop("agent_id"), kw.pop("state_data"), **kw), store),
        "store_agent_states": (system.store_agent_states, st.fixed_dictionaries(
            {"agent_id": agent, "states": st.lists(state, max_size=3) | garbage},
            optional={"step_numbers": mostly(st.lists(step, max_size=3), opt),
                      "priorities": mostly(st.lists(priority, max_size=3), opt), "tier": store_tier,
                      "memory_type": mtype})),
        "retrieve_state": (system.retrieve_state, st.fixed_dictionaries(
            {"memory_id": mid}, optional={"agent_id": opt | agent, "tier": read_tier})),
        "retrieve_states": (system.retrieve_states, st.fixed_dictionaries(
            {"memory_ids": mostly(st.lists(mid, max_size=3), garbage)}, optional={"agent_id": opt, "tier": read_tier})),
        "retrieve_similar_states": (system.retrieve_similar_states, similar),
        "retrieve_by_time_range": (system.retrieve_by_time_range, step_range),
        "retrieve_by_attributes": (system.retrieve_by_attributes, st.fixed_dictionaries(
            {"agent_id": agent, "attributes": st.dictionaries(key | st.sampled_from(["goals.0", "x", "a.²"]), tree,
                                                              max_size=3) | garbage})),
        "memory_exists": (system.memory_exists, st.fixed_dictionaries({"memory_id": mid}, optional={"tier": read_tier})),
        "force_memory_maintenance": (system.force_memory_maintenance,
                                     st.fixed_dictionaries({}, optional={"agent_id": agent})),
        "get_memory_statistics": (system.get_memory_statistics, st.fixed_dictionaries({"agent_id": agent})),
        "get_encoder": (lambda tier, query: system.get_encoder(tier).encode(query),
                        st.fixed_dictionaries({"tier": store_tier, "query": state})),
        "get_encoder.decode": (lambda tier, vector: system.get_encoder(tier).decode_vectors([vector]),
                               st.fixed_dictionaries({"tier": store_tier, "vector": mostly(
                                   st.integers(0, 2).flatmap(lambda i: st.lists(st.floats(width=32),
                                                                               min_size=(384, 128, 32)[i],
                                                                               max_size=(384, 128, 32)[i])),
                                   garbage)})),
        "train_compression": (system.train_compression, st.fixed_dictionaries(
            {}, optional={"states": st.lists(state, max_size=4) | garbage, "epochs": small_epochs,
                          "batch_size": small_epochs})),
        "api.store_agent_state": (api.store_agent_state, st.fixed_dictionaries(
            {"agent_id": agent, "state_data": state, "step_number": step}, optional={"priority": priority})),
        "api.store_agent_states": (api.store_agent_states, st.fixed_dictionaries(
            {"agent_id": agent, "states": st.lists(state, max_size=3) | garbage},
            optional={"step_numbers": mostly(st.lists(step, max_size=3), opt),
                      "priorities": mostly(st.lists(priority, max_size=3), opt)})),
        "api.get_memory": (api.get_memory, st.fixed_dictionaries({"memory_id": mid}, optional={"agent_id": opt})),
        "api.retrieve_state": (api.retrieve_state, st.fixed_dictionaries({"memory_id": mid}, optional={"tier": read_tier})),
        "api.retrieve_similar_states": (api.retrieve_similar_states, similar),
        "api.retrieve_by_time_range": (api.retrieve_by_time_range, step_range),
        "api.retrieve_by_attributes": (api.retrieve_by_attributes, st.fixed_dictionaries(
            {"agent_id": agent, "attributes": st.dictionaries(key, tree, max_size=3) | garbage})),
        "api.memory_exists": (api.memory_exists, st.fixed_dictionaries({"memory_id": mid}, optional={"tier": read_tier})),
        "api.force_memory_maintenance": (api.force_memory_maintenance,
                                         st.fixed_dictionaries({}, optional={"agent_id": agent})),
        "api.get_memory_statistics": (api.get_memory_statistics, st.fixed_dictionaries({"agent_id": agent})),
    }


def _count(system: Any, agent_id: str) -> int:
    return system.get_memory_statistics(agent_id)["total_memories"]


@pytest.mark.slow  # 2-3.5 s embedded, 2-5.6 s on Redis
@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_garbage_raises_only_documented_errors_and_never_poisons(make_backend_system, backend):
    system = make_backend_system(stm_limit=4, im_limit=4, cleanup_interval=3)
    api = MemoryAPI(system)
    ids = [system.store_agent_state(a, {"x": 0, "goals": [{"id": "g"}]}, 0) for a in ("a", "b", "Zoë ✓")]
    ops = _ops(system, api, ids)
    steps = iter(range(100, 10**9))

    @settings(max_examples=200 if backend == "memory" else 120, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data):
        name = data.draw(st.sampled_from(sorted(ops)), label="method")
        call, kwargs_strategy = ops[name]
        kwargs = data.draw(kwargs_strategy, label="kwargs")
        before = {a: _count(system, a) for a in ("a", "b", "Zoë ✓")}
        try:
            result = call(**kwargs)
        except AgentMemoryError:
            assert {a: _count(system, a) for a in before} == before, f"{name} raised but stored"
        else:
            if name.endswith("store_agent_states") and isinstance(result, list):
                ids.extend(result[:2])
            elif "store_agent" in name and isinstance(result, str):
                ids.append(result)
        step = next(steps)
        for a in ("a", "Zoë ✓"):  # the agents still work, through every tier move
            mid = system.store_agent_state(a, {"ok": step, "tag": "fine"}, step)
            assert system.retrieve_state(mid)["content"] == {"ok": step, "tag": "fine"}
            assert system.retrieve_similar_states(a, {"ok": step}, k=2)
            system.force_memory_maintenance(a)
            assert system.memory_exists(mid)
        system.force_memory_maintenance()
        touched = {"a", "b", "Zoë ✓"} | ({kwargs["agent_id"]} if type(kwargs.get("agent_id")) is str else set())
        for a in touched:  # nothing poisoned: no agent's maintenance ever failed
            try:
                failures = system.get_memory_statistics(a)["maintenance_failures"]
            except AgentMemoryError:
                continue  # not a valid agent id
            assert failures == 0, f"{name}: maintenance of {a!r} failed"

    run()
