"""memory.stores.ids: the agent part and the suffix of a memory id, split at its last ':'."""

import pytest

from memory.stores.ids import agent_of, by_agent, of_agent, split_id, suffixes

IDS = [("a:m1", "a", "m1"),
       ("team:a:m1", "team:a", "m1"),  # an agent id may hold ':' itself
       ("a:", "a", ""),
       (":m1", "", "m1"),
       ("m1", "", "m1"),
       ("", "", "")]


@pytest.mark.parametrize("memory_id, agent, suffix", IDS)
def test_parts(memory_id, agent, suffix):
    assert split_id(memory_id) == (agent, suffix)
    assert agent_of(memory_id) == (agent or None)  # None: no agent part
    assert suffixes([memory_id]) == [suffix]


def test_batch_forms():
    ids = [m for m, _, _ in IDS] + [7, None, "b:m2", "a:m3"]
    assert suffixes(["a:m1", "b:c:m2"]) == ["m1", "m2"]
    assert of_agent("a", ids) == ["a:m1", "a:", "a:m3"]
    assert of_agent("team:a", ids) == ["team:a:m1"]
    assert of_agent("", ids) == [":m1", "m1", ""]  # as rpartition: the ids with no agent part
    assert by_agent(ids) == {"a": [0, 2, 9], "team:a": [1], "b": [8]}  # positions; no agent, not str: left out
