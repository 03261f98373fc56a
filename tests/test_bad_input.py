"""Bad input raises a typed, clear error, and nothing is stored."""

import math

import pytest

from memory import AgentMemoryError, InvalidMemoryError, InvalidValueError


class Thing:
    pass


BAD_STATES = [
    ([1, 2], TypeError, "must be a dict"),
    ("state", TypeError, "must be a dict"),
    (None, TypeError, "must be a dict"),
    ({"s": {1, 2}}, TypeError, "set"),
    ({"o": Thing()}, TypeError, "Thing"),
    ({"deep": {"x": [1, {"b": b"bytes"}]}}, TypeError, "deep.x.1.b"),
    ({"n": float("nan")}, ValueError, "NaN"),
    ({"n": [1.0, math.inf]}, ValueError, "n.1"),
    ({1: "int key"}, TypeError, "keys must be strings"),
    ({"a": {None: 1}}, TypeError, "keys must be strings"),
]


@pytest.mark.parametrize("state, kind, fragment", BAD_STATES)
def test_bad_state_is_rejected_and_nothing_stored(system, state, kind, fragment):
    system.store_agent_state("a", {"ok": 1}, 0)
    with pytest.raises(kind) as err:
        system.store_agent_state("a", state, 1)
    assert isinstance(err.value, AgentMemoryError) and fragment in str(err.value)
    with pytest.raises(kind):
        system.store_agent_states("a", [{"fine": 2}, state])  # one bad state: none of the batch is stored
    st = system.get_memory_statistics("a")
    assert st["total_memories"] == 1
    assert [m["content"] for m in system.retrieve_by_time_range("a", 0, 100)] == [{"ok": 1}]
    # and the agent's search index is intact
    assert system.retrieve_similar_states("a", {"ok": 1}, k=5)[0]["content"] == {"ok": 1}
    assert len(system.retrieve_similar_states("a", {"ok": 1}, k=5)) == 1


def test_circular_state(system):
    state = {"a": 1}
    state["self"] = state
    with pytest.raises(InvalidValueError, match="circular|deeper"):
        system.store_agent_state("a", state, 0)
    assert system.get_memory_statistics("a")["total_memories"] == 0


@pytest.mark.parametrize("kwargs, kind", [
    ({"step_number": -1}, InvalidValueError),
    ({"step_number": 1.5}, InvalidMemoryError),
    ({"step_number": True}, InvalidMemoryError),
    ({"priority": -0.5}, InvalidValueError),
    ({"priority": float("nan")}, InvalidValueError),
    ({"priority": "high"}, InvalidMemoryError),
    ({"agent_id": ""}, InvalidValueError),
    ({"agent_id": 7}, InvalidMemoryError),
    ({"tier": "disk"}, InvalidValueError),
])
def test_bad_arguments(system, kwargs, kind):
    args = {"agent_id": "a", "state_data": {"x": 1}, "step_number": 0}
    args.update(kwargs)
    with pytest.raises(kind):
        system.store_agent_state(**args)
    assert system.get_memory_statistics("a")["total_memories"] == 0


def test_bad_query_arguments(system):
    system.store_agent_state("a", {"x": 1}, 0)
    with pytest.raises(InvalidValueError):
        system.retrieve_similar_states("a", {"x": 1}, k=0)
    with pytest.raises(InvalidValueError):
        system.retrieve_similar_states("a", {"x": 1}, tier="cache")
    with pytest.raises(InvalidValueError):
        system.retrieve_similar_states("a", {"x": 1}, memory_type="dream")
    with pytest.raises(InvalidMemoryError):
        system.retrieve_similar_states("a", ["not", "a", "dict"])
    with pytest.raises(InvalidValueError):
        system.retrieve_by_time_range("a", 5, 2)
    with pytest.raises(InvalidMemoryError):
        system.retrieve_by_attributes("a", "status=idle")
    with pytest.raises(InvalidValueError):
        system.retrieve_by_attributes("a", {})
    with pytest.raises(InvalidValueError):
        system.retrieve_state("x", tier="l2")
    with pytest.raises(InvalidMemoryError):
        system.memory_exists(123)
    with pytest.raises(InvalidValueError):
        system.store_agent_states("a", [{"x": 1}], step_numbers=[1, 2])
    with pytest.raises(InvalidMemoryError):
        system.store_agent_states("a", {"x": 1})


def test_errors_are_typed_for_callers():
    assert issubclass(InvalidMemoryError, TypeError) and issubclass(InvalidValueError, ValueError)
