"""memory.stores.ids: the agent part and the suffix of a memory id, split at its last ':'."""

import pytest

from memory.stores.ids import agent_of, split_id, suffix_of


@pytest.mark.parametrize("memory_id, agent, suffix", [
    ("a:m1", "a", "m1"),
    ("team:a:m1", "team:a", "m1"),  # an agent id may hold ':' itself
    ("a:", "a", ""),
    (":m1", "", "m1"),
    ("m1", "", "m1"),
    ("", "", ""),
])
def test_parts(memory_id, agent, suffix):
    assert split_id(memory_id) == (agent, suffix)
    assert suffix_of(memory_id) == suffix
    assert agent_of(memory_id) == (agent or None)  # None: no agent part
    assert split_id(memory_id) == (memory_id.rpartition(":")[0], memory_id.rpartition(":")[2])
