"""Bad input raises a typed, clear error, and nothing is stored."""

import math

import pytest

import memory
from memory import (AgentMemoryError, AgentMemorySystem, ConfigError, CorruptDataError, InvalidMemoryError,
                    InvalidValueError, MemoryConfig, MemoryNotFoundError, StorageError)
from memory.api import MemoryAPI


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


# README "Errors": each class derives from AgentMemoryError and from the built-in a caller may already catch
DOCUMENTED_ERRORS = [
    (ConfigError, ValueError),
    (StorageError, AgentMemoryError),
    (CorruptDataError, StorageError),
    (MemoryNotFoundError, KeyError),
    (InvalidMemoryError, TypeError),
    (InvalidValueError, ValueError),
]


def test_errors_are_typed_for_callers():
    assert issubclass(AgentMemoryError, Exception)
    assert not issubclass(AgentMemoryError, (TypeError, ValueError, KeyError, OSError))
    for cls, base in DOCUMENTED_ERRORS:
        assert getattr(memory, cls.__name__) is cls and cls.__name__ in memory.__all__
        assert issubclass(cls, AgentMemoryError) and issubclass(cls, base), cls
    # and no class is a built-in it is not documented to be (a TypeError handler must not catch a bad value)
    assert not issubclass(InvalidMemoryError, ValueError) and not issubclass(InvalidValueError, TypeError)
    assert not issubclass(StorageError, (TypeError, ValueError, KeyError))
    assert not issubclass(MemoryNotFoundError, (TypeError, ValueError))
    assert CorruptDataError("row 'a:1' is damaged", memory_id="a:1").memory_id == "a:1"
    assert str(MemoryNotFoundError("no memory 'a:1'")) == "no memory 'a:1'"  # not KeyError's repr: "\"no ...\""


def _config_with_stm_limit_zero():
    config = MemoryConfig()
    config.stm_config.memory_limit = 0
    return config


# (call on a system and its MemoryAPI facade, the documented type, what the message must name)
BAD_CALLS = {
    "step_number<0": (lambda s, api: s.store_agent_state("a", {"x": 1}, -1), InvalidValueError, "step_number"),
    "step_number>2**53": (lambda s, api: s.store_agent_state("a", {"x": 1}, 2**53 + 1), InvalidValueError,
                          "step_number"),
    "step_number float": (lambda s, api: s.store_agent_state("a", {"x": 1}, 1.5), InvalidMemoryError,
                          "step_number"),
    "priority<0": (lambda s, api: s.store_agent_state("a", {"x": 1}, 0, priority=-0.5), InvalidValueError,
                   "priority"),
    "priority str": (lambda s, api: s.store_agent_state("a", {"x": 1}, 0, priority="high"), InvalidMemoryError,
                     "priority"),
    "agent_id empty": (lambda s, api: s.store_agent_state("", {"x": 1}, 0), InvalidValueError, "agent_id"),
    "agent_id int": (lambda s, api: s.store_agent_state(7, {"x": 1}, 0), InvalidMemoryError, "agent_id"),
    "agent_id surrogate+newline": (lambda s, api: s.store_agent_state("a\n\ud800", {"x": 1}, 0), InvalidValueError,
                                   "agent_id"),
    "store tier": (lambda s, api: s.store_agent_state("a", {"x": 1}, 0, tier="dis\nk"), InvalidValueError, "tier"),
    "state path+newline set": (lambda s, api: s.store_agent_state("a", {"a\nb": {"c": {1}}}, 0), InvalidMemoryError,
                               "'a\\nb.c'"),
    "state path nan": (lambda s, api: s.store_agent_state("a", {"g": [{"v": float("nan")}]}, 0), InvalidValueError,
                       "'g.0.v'"),
    "state key int": (lambda s, api: s.store_agent_state("a", {"a": {3: 1}}, 0), InvalidMemoryError, "'a'"),
    "state big int": (lambda s, api: s.store_agent_state("a", {"n": 10**5000}, 0), InvalidValueError, "'n'"),
    "api state_data": (lambda s, api: api.store_agent_state("a", [1], 0), InvalidMemoryError, "state_data"),
    "state_data": (lambda s, api: s.store_agent_state("a", [1, 2], 0), InvalidMemoryError, "state_data"),
    "action_data": (lambda s, api: s.store_agent_action("a", "go", 0), InvalidMemoryError, "action_data"),
    "query_state": (lambda s, api: s.retrieve_similar_states("a", ["x"]), InvalidMemoryError, "query_state"),
    "states[i]": (lambda s, api: s.store_agent_states("a", [{"x": 1}, [1]]), InvalidMemoryError, "states[1]"),
    "states not list": (lambda s, api: s.store_agent_states("a", {"x": 1}), InvalidMemoryError, "states"),
    "step_numbers[i]": (lambda s, api: s.store_agent_states("a", [{"x": 1}, {"x": 2}], step_numbers=[1, -2]),
                        InvalidValueError, "step_numbers[1]"),
    "step_numbers length": (lambda s, api: s.store_agent_states("a", [{"x": 1}], step_numbers=[1, 2]),
                            InvalidValueError, "step_numbers"),
    "k": (lambda s, api: s.retrieve_similar_states("a", {"x": 1}, k=0), InvalidValueError, "k must"),
    "k str": (lambda s, api: s.retrieve_similar_states("a", {"x": 1}, k="5"), InvalidMemoryError, "k must"),
    "search tier": (lambda s, api: s.retrieve_similar_states("a", {"x": 1}, tier="cache"), InvalidValueError, "tier"),
    "memory_type": (lambda s, api: s.retrieve_similar_states("a", {"x": 1}, memory_type="dr\neam"),
                    InvalidValueError, "memory_type"),
    "threshold": (lambda s, api: s.retrieve_similar_states("a", {"x": 1}, threshold=float("nan")),
                  InvalidValueError, "threshold"),
    "end_step<start_step": (lambda s, api: s.retrieve_by_time_range("a", 5, 2), InvalidValueError, "end_step"),
    "start_step<0": (lambda s, api: s.retrieve_by_time_range("a", -1, 2), InvalidValueError, "start_step"),
    "end_step>int64": (lambda s, api: s.retrieve_by_time_range("a", 0, 2**64), InvalidValueError, "end_step"),
    "attributes str": (lambda s, api: s.retrieve_by_attributes("a", "status=idle"), InvalidMemoryError,
                       "attributes"),
    "attributes empty": (lambda s, api: s.retrieve_by_attributes("a", {}), InvalidValueError, "attributes"),
    "retrieve tier": (lambda s, api: s.retrieve_state("x", tier="l2"), InvalidValueError, "tier"),
    "memory_id int": (lambda s, api: s.memory_exists(123), InvalidMemoryError, "memory_id"),
    "memory_id surrogate": (lambda s, api: s.retrieve_state("a:\n\ud800"), InvalidValueError, "memory_id"),
    "memory_ids str": (lambda s, api: s.retrieve_states("a:1"), InvalidMemoryError, "memory_ids"),
    "epochs": (lambda s, api: s.train_compression(epochs=0), InvalidValueError, "epochs"),
    "get_memory": (lambda s, api: api.get_memory("a:no\npe"), MemoryNotFoundError, "'a:no\\npe'"),
    "config field": (lambda s, api: MemoryConfig(backend="dis\nk").validate(), ConfigError, "backend"),
    "config at build": (lambda s, api: AgentMemorySystem(MemoryConfig(redis_timeout=0)), ConfigError,
                        "redis_timeout"),
    "config nested field": (lambda s, api: AgentMemorySystem(_config_with_stm_limit_zero()), ConfigError,
                            "stm_config.memory_limit"),
}


@pytest.mark.parametrize("call, kind, names", list(BAD_CALLS.values()), ids=list(BAD_CALLS))
def test_errors_are_the_documented_type_with_a_one_line_message_naming_the_argument(system, call, kind, names):
    system.store_agent_state("a", {"x": 1}, 0)
    with pytest.raises(AgentMemoryError) as err:
        call(system, MemoryAPI(system))
    assert type(err.value) is kind  # exactly the documented class, not only some AgentMemoryError
    message = str(err.value)
    assert message and "\n" not in message and "\r" not in message, repr(message)  # hostile values are repr'd
    assert names in message, message
    assert system.get_memory_statistics("a")["total_memories"] == 1
