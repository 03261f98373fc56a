"""MemoryAPI facade and agent hooks."""

import pytest

from memory import InvalidMemoryError, MemoryNotFoundError
from memory.api import MemoryAPI
from memory.api.hooks import BaseAgent, install_memory_hooks


def test_api_delegates_and_validates(system):
    api = MemoryAPI(system)
    mid = api.store_agent_state("a", {"x": 1}, 0)
    assert api.retrieve_state(mid)["content"] == {"x": 1}
    assert api.get_memory(mid)["memory_id"] == mid
    with pytest.raises(MemoryNotFoundError, match="nope"):
        api.get_memory("a:nope")
    with pytest.raises(InvalidMemoryError):
        api.store_agent_action("a", "jump", 1)
    api.store_agent_action("a", {"a": "jump"}, 1)
    api.store_agent_interaction("a", {"with": "b"}, 2)
    api.store_agent_states("a", [{"x": 2}], [3])
    assert len(api.retrieve_by_time_range("a", 0, 3)) == 4
    assert api.retrieve_similar_states("a", {"x": 2}, k=1)[0]["step_number"] == 3
    assert len(api.retrieve_by_attributes("a", {"with": "b"})) == 1
    assert api.memory_exists(mid)
    assert api.force_memory_maintenance("a")["forgotten"] == 0
    assert api.get_memory_statistics("a")["total_memories"] == 4
    api.clear_all_memories()
    assert not api.memory_exists(mid)


def test_decorated_class_stores_observations_and_actions(system):
    @install_memory_hooks
    class Forager:
        def __init__(self):
            self.agent_id, self.memory_system = "forager", system
            self.seen = []

        def observe(self, observation):
            self.seen.append(observation)

        def act(self, observation):
            return "north" if observation["food"] > 0 else "south"

    f = Forager()
    for t in range(3):
        f.observe({"food": t})
        assert f.act({"food": t}) == ("north" if t else "south")
    assert f.step_number == 3 and len(f.seen) == 3
    mems = system.retrieve_by_time_range("forager", 0, 10)
    assert [(m["memory_type"], m["step_number"]) for m in mems] == \
        [("state", 0), ("action", 0), ("state", 1), ("action", 1), ("state", 2), ("action", 2)]
    assert mems[1]["content"] == {"action": "south"}
    assert f.recall({"food": 2}, k=1)[0]["content"] == {"food": 2}


def test_base_agent_subclass_stores_once(system):
    @install_memory_hooks
    class MyAgent(BaseAgent):
        def act(self, observation):
            return super().act(observation)

    agent = MyAgent("agent1", system)
    agent.act({"position": [0, 0]})
    agent.act({"position": [0, 1]})
    mems = system.retrieve_by_time_range("agent1", 0, 10)
    assert [(m["memory_type"], m["step_number"]) for m in mems] == \
        [("state", 0), ("action", 0), ("state", 1), ("action", 1)]
