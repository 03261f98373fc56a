"""Hostile input (issue #10): nothing a later tier cannot encode gets in, every error is typed, and one
failing agent never stops the others' maintenance.

Each test here failed on the code before its fix: poisoning values were accepted (then every tier move
of the agent failed), out-of-range scalars escaped as OverflowError/ValueError/struct.error, and a
failing agent stopped `force_memory_maintenance()` for every agent after it.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from memory import AgentMemoryError, InvalidMemoryError, InvalidValueError, StorageError
from memory.errors import CorruptDataError
from memory.api import MemoryAPI

BOTH = pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
INT64_MAX = 2**63 - 1
MAX_STEP = 2**53  # the largest stored step (exact in float64: an index writes new rows through float64)
SURROGATE = "abc\ud800"

POISON = [  # (state, fragment the message must contain: the field)
    ({"s": SURROGATE}, "'s'"),
    ({"deep": {"list": ["ok", "x\udfff"]}}, "'deep.list.1'"),
    ({"k\ud800": 1}, "surrogate"),
    ({"nested": {"\udc80": {"x": 1}}}, "'nested'"),
    ({"n": 10**4300}, "'n'"),
    ({"n": [1, -10**5000]}, "'n.1'"),
    ({"t": (1, {"z": 10**4300 + 7})}, "'t.1.z'"),
    ({"f": 1.7976931348623157e308}, "'f'"),  # finite, but 1.8e308 (inf) to LTM's 2 digits
    ({"f": [0.5, -1.7495e308]}, "'f.1'"),  # 1.750e308 to IM's 4 digits, then 1.8e308 to LTM's 2
]


def _system(make_backend_system, **kw):
    """A system on the parametrised backend with tiny tiers, so every few stores move memories."""
    return make_backend_system(stm_limit=3, im_limit=3, cleanup_interval=2, **kw)


def _healthy(system, agent: str, step: int) -> None:
    """A valid store, read, search and maintenance of `agent` all work."""
    mid = system.store_agent_state(agent, {"ok": step, "name": "fine"}, step)
    assert system.retrieve_state(mid)["content"] == {"ok": step, "name": "fine"}
    assert system.retrieve_similar_states(agent, {"ok": step}, k=1)
    system.force_memory_maintenance(agent)
    assert system.memory_exists(mid)


@BOTH
@pytest.mark.parametrize("state, fragment", POISON, ids=[f"poison{i}" for i in range(len(POISON))])
@pytest.mark.parametrize("tier", ["stm", "im", "ltm"])
def test_poisoning_content_is_rejected_at_the_door(make_backend_system, state, fragment, tier):
    system = _system(make_backend_system)
    system.store_agent_state("a", {"ok": 0}, 0)
    with pytest.raises(InvalidValueError) as err:
        system.store_agent_state("a", state, 1, tier=tier)
    assert fragment in str(err.value)
    with pytest.raises(InvalidValueError):
        system.store_agent_states("a", [{"fine": 1}, state], tier=tier)
    with pytest.raises(InvalidValueError):
        system.store_agent_action("a", state, 1, tier=tier)
    assert system.get_memory_statistics("a")["total_memories"] == 1
    _healthy(system, "a", 2)


@BOTH
def test_a_rejected_memory_does_not_poison_its_agent(make_backend_system):
    """The issue's scenario: afterwards 100 valid stores return ids, STM stays in its limit, all agents maintained."""
    system = _system(make_backend_system)
    with pytest.raises(InvalidValueError, match="surrogate"):
        system.store_agent_state("a", {"s": SURROGATE}, 0)
    ids = [system.store_agent_state("a", {"x": i, "tag": f"t{i % 7}"}, i + 1) for i in range(100)]
    assert len(set(ids)) == 100
    st = system.get_memory_statistics("a")
    assert st["tiers"]["stm"]["count"] <= 3 + 2 and st["total_memories"] == 100
    system.store_agent_states("b", [{"y": i} for i in range(10)])
    system.force_memory_maintenance()
    assert system.get_memory_statistics("b")["tiers"]["stm"]["count"] <= 3


@BOTH
def test_largest_accepted_values_survive_every_tier(make_backend_system):
    """The limits are exact: a 4300-digit int and step 2**53 are stored in, and moved to, every tier."""
    system = _system(make_backend_system)
    big = 10**4300 - 1
    content = {"n": big, "neg": -big, "nest": [{"m": big}], "f": 1.7494e308}
    stm_only = system.store_agent_state("a", {"x": -1}, MAX_STEP, priority=5.0)  # stays in STM
    assert [m["memory_id"] for m in system.retrieve_by_time_range("a", MAX_STEP, INT64_MAX)] == [stm_only]
    ids = [system.store_agent_state("a", content, MAX_STEP, priority=0.2, tier=t) for t in ("stm", "im", "ltm")]
    system.store_agent_states("a", [{"x": i} for i in range(10)], step_numbers=[MAX_STEP - 10 + i for i in range(10)])
    system.force_memory_maintenance("a")
    system.force_memory_maintenance("a")
    assert system.memory_exists(ids[0], tier="ltm")  # the lowest retention left STM, then IM
    for mid in ids:
        mem = system.retrieve_state(mid)
        assert mem["content"]["nest"] == content["nest"] and mem["step_number"] == MAX_STEP
        assert mem["content"]["n"] == big and mem["content"]["f"] in (1.7494e308, 1.749e308, 1.7e308)
    in_range = system.retrieve_by_time_range("a", MAX_STEP, INT64_MAX)
    assert sorted(m["memory_id"] for m in in_range) == sorted(ids + [stm_only])
    assert system.retrieve_state(stm_only)["tier"] == "stm"
    assert len(system.retrieve_by_attributes("a", {"nest.0.m": big})) == 3
    assert system.encoder.max_float == 1.7495e308  # IM then LTM rounding: the largest float that stays finite
    _healthy(system, "a", 11)


def test_a_lowered_int_digit_limit_lowers_the_bound(make_system):
    """Where the process lowered sys.set_int_max_str_digits, JSON can write fewer digits: so does the door."""
    import sys
    system = make_system(stm_limit=1, im_limit=1, cleanup_interval=1)
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        with pytest.raises(InvalidValueError, match="more than 640 digits"):
            system.store_agent_state("a", {"n": 10**640}, 0)
        ids = [system.store_agent_state("a", {"n": 10**640 - 1 - i}, i) for i in range(3)]
        assert system.memory_exists(ids[0], tier="ltm") and system.retrieve_state(ids[0])["content"]["n"] == 10**640 - 1
        assert system.get_memory_statistics("a")["maintenance_failures"] == 0
    finally:
        sys.set_int_max_str_digits(before)


@BOTH
@pytest.mark.parametrize("tier", ["stm", "im", "ltm"])
@pytest.mark.parametrize("step", [MAX_STEP + 1, 2**63, 2**64 + 1, 10**5000],
                         ids=["2**53+1", "2**63", "2**64+1", "10**5000"])
def test_steps_beyond_the_largest_are_rejected(make_backend_system, tier, step):
    system = _system(make_backend_system)
    with pytest.raises(InvalidValueError, match="step_number"):
        system.store_agent_state("a", {"x": 1}, step, tier=tier)
    with pytest.raises(InvalidValueError, match=r"step_numbers\[1\]"):
        system.store_agent_states("a", [{"x": 1}, {"x": 2}], step_numbers=[0, step], tier=tier)
    assert system.get_memory_statistics("a")["total_memories"] == 0
    _healthy(system, "a", 0)


def test_batch_steps_that_would_continue_past_the_largest_are_rejected(system):
    system.store_agent_state("a", {"x": 1}, MAX_STEP)
    with pytest.raises(InvalidValueError, match="step"):
        system.store_agent_states("a", [{"x": 2}])
    assert system.get_memory_statistics("a")["total_memories"] == 1


@BOTH
@pytest.mark.parametrize("agent", ["\ud800", "agent-\udfff-1", "x\ud83d"])
def test_agent_ids_with_lone_surrogates_are_rejected_everywhere(make_backend_system, agent):
    system = _system(make_backend_system)
    calls = [
        lambda: system.store_agent_state(agent, {"x": 1}, 0),
        lambda: system.store_agent_state(agent, {"x": 1}, 0, tier="im"),
        lambda: system.store_agent_interaction(agent, {"x": 1}, 0, tier="ltm"),
        lambda: system.store_agent_states(agent, [{"x": 1}]),
        lambda: system.retrieve_similar_states(agent, {"x": 1}),
        lambda: system.retrieve_by_time_range(agent, 0, 5),
        lambda: system.retrieve_by_attributes(agent, {"x": 1}),
        lambda: system.get_memory_statistics(agent),
        lambda: system.force_memory_maintenance(agent),
    ]
    for call in calls:
        with pytest.raises(InvalidValueError, match="agent_id"):
            call()
    assert system.force_memory_maintenance() == {"forgotten": 0, "stm_to_im": 0, "im_to_ltm": 0}
    _healthy(system, "a", 0)
    _healthy(system, "Zoë ✓ 😀", 0)  # valid non-ASCII ids (a surrogate pair is one valid char) still work


@BOTH
def test_memory_ids_and_attributes_with_lone_surrogates_are_rejected(make_backend_system):
    system = _system(make_backend_system)
    mid = system.store_agent_state("a", {"x": 1, "goals": [{"id": "g"}]}, 0)
    for call in (lambda: system.retrieve_state("a:\ud800"), lambda: system.retrieve_states([mid, "\udfff"]),
                 lambda: system.memory_exists("a:x\ud800"),
                 lambda: system.retrieve_by_attributes("a", {"x\ud800": 1}),
                 lambda: system.retrieve_by_attributes("a", {"x": "v\ud800"}),
                 lambda: system.retrieve_by_attributes("a", {"x": [{"y": "\udc00"}]}),
                 lambda: system.retrieve_similar_states("a", {"q": SURROGATE})):
        with pytest.raises(InvalidValueError, match="surrogate"):
            call()
    assert system.retrieve_state(mid)["content"]["x"] == 1
    assert system.retrieve_state("a:Zoë") is None and not system.memory_exists("ü")


# -- (3) out-of-range scalars: the documented types, never OverflowError / struct.error / bare ValueError ---
@BOTH
def test_out_of_range_scalars_raise_the_documented_types(make_backend_system):
    system = _system(make_backend_system)
    system.store_agent_state("a", {"goals": [{"id": "g0"}], "x": 1}, 0)
    value_errors = [
        lambda: system.store_agent_state("a", {"x": 1}, 1, priority=10**400),
        lambda: system.store_agent_state("a", {"x": 1}, 1, priority=-10**5000),
        lambda: system.store_agent_states("a", [{"x": 1}], priorities=[10**400]),
        lambda: system.store_agent_state("a", {"x": 1}, -10**5000),
        lambda: system.retrieve_similar_states("a", {"x": 1}, threshold=10**400),
        lambda: system.retrieve_similar_states("a", {"x": 1}, threshold=-10**5000),
        lambda: system.retrieve_by_time_range("a", 0, 2**63),
        lambda: system.retrieve_by_time_range("a", 2**63, 2**64),
        lambda: system.retrieve_by_time_range("a", -10**5000, 5),
        lambda: system.retrieve_similar_states("a", {"x": 1}, k=-10**5000),
        lambda: system.train_compression([{"x": 1}, {"x": 2}], epochs=-10**5000),
        lambda: system.train_compression([{"x": 1}, {"x": 2}], batch_size=0),
    ]
    for call in value_errors:
        with pytest.raises(InvalidValueError):
            call()
    with pytest.raises(InvalidValueError, match="tier"):
        system.store_agent_state("a", {"x": 1}, 1, tier=10**5000)
    with pytest.raises(InvalidMemoryError):
        system.train_compression([{"x": 1}, {"x": 2}], batch_size="big")
    with pytest.raises(InvalidMemoryError):
        system.retrieve_states(5)
    # a huge k means "all of them"
    assert len(system.retrieve_similar_states("a", {"x": 1}, k=10**400)) == 1
    assert len(system.retrieve_similar_states("a", {"x": 1}, k=2**63)) == 1
    _healthy(system, "a", 1)


@pytest.mark.parametrize("tier", ["stm", "im", "ltm"])
def test_tier_encoder_rejects_vectors_it_cannot_use(system, tier):
    """get_encoder(tier): encode/decode of odd arrays raise the documented types (numpy's errors before)."""
    enc = system.get_encoder(tier)
    code = enc.encode({"x": 1})
    assert enc.decode(code).shape == (384,) and enc.decode_vectors([code, code]).shape == (2, 384)
    assert enc.encode_vectors(np.zeros((2, 384))).shape == (2, enc.dim)
    for call in (lambda: enc.decode([1.0, 2.0]), lambda: enc.decode([code]), lambda: enc.decode(np.full(enc.dim, np.nan)),
                 lambda: enc.decode(np.full(enc.dim, 1e300)), lambda: enc.decode_vectors(np.zeros((2, enc.dim + 1))),
                 lambda: enc.encode_vectors(np.zeros(384)), lambda: enc.encode_vectors([[np.inf] * 384])):
        with pytest.raises(InvalidValueError):
            call()
    for call in (lambda: enc.decode(["x"] * enc.dim), lambda: enc.decode([10**400] * enc.dim),
                 lambda: enc.encode_vectors([[object()] * 384]), lambda: enc.encode_states(5)):
        with pytest.raises(InvalidMemoryError):
            call()
    with pytest.raises(InvalidValueError, match="surrogate"):
        enc.encode({"x": "\ud800"})


@pytest.mark.parametrize("key", ["goals.²", "goals.١", "goals." + "9" * 5000, "goals.0.id.²"],
                         ids=["superscript", "arabic-indic", "5000-digits", "past-a-leaf"])
def test_attribute_paths_with_odd_digits_match_nothing(system, key):
    system.store_agent_state("a", {"goals": [{"id": "g0"}, {"id": "g1"}]}, 0)
    assert system.retrieve_by_attributes("a", {key: 1}) == []
    assert len(system.retrieve_by_attributes("a", {"goals.1.id": "g1"})) == 1


def test_the_api_facade_types_the_same_errors(system):
    api = MemoryAPI(system)
    for call in (lambda: api.store_agent_state("a", {"s": SURROGATE}, 0),
                 lambda: api.store_agent_state("a", {"x": 1}, 2**63),
                 lambda: api.store_agent_state("a", {"x": 1}, 0, priority=10**400),
                 lambda: api.store_agent_state("\ud800", {"x": 1}, 0),
                 lambda: api.retrieve_similar_states("a", {"x": 1}, threshold=10**400),
                 lambda: api.retrieve_by_time_range("a", 0, 2**63),
                 lambda: api.get_memory("a:\ud800"),
                 lambda: api.store_agent_states("a", [{"x": 10**4300}])):
        with pytest.raises(InvalidValueError):
            call()
    assert api.get_memory(api.store_agent_state("a", {"x": 1}, 0))["content"] == {"x": 1}
    for not_a_system in (5, "system", object()):
        with pytest.raises(InvalidMemoryError, match="AgentMemorySystem"):
            MemoryAPI(not_a_system)


# -- maintenance isolates a failing agent -------------------------------------------------------------
def _failing_for(monkeypatch, bad: str, error: Exception) -> None:
    """Make the tier transitions of agent `bad` raise `error` (a damaged record, a store bug)."""
    import memory.system as system_module
    real = system_module.maintain_agent

    def maintain(stm, im, ltm, agent_id, *args, **kwargs):
        if agent_id == bad:
            raise error
        return real(stm, im, ltm, agent_id, *args, **kwargs)

    monkeypatch.setattr(system_module, "maintain_agent", maintain)


@BOTH
@pytest.mark.parametrize("error", [ValueError("boom"), UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates"),
                                   OverflowError("too big"), CorruptDataError("record damaged", "bad:1")])
def test_force_maintenance_isolates_a_failing_agent(make_backend_system, monkeypatch, caplog, error):
    system = make_backend_system(stm_limit=2, cleanup_interval=10_000)
    for agent in ("first", "bad", "last"):
        system.store_agent_states(agent, [{"x": i, "who": agent} for i in range(5)])
    _failing_for(monkeypatch, "bad", error)
    with caplog.at_level(logging.WARNING, logger="memory"):
        report = system.force_memory_maintenance()
    assert report == {"forgotten": 0, "stm_to_im": 6, "im_to_ltm": 0}
    for agent in ("first", "last"):
        assert system.get_memory_statistics(agent)["tiers"]["stm"]["count"] == 2
    bad = system.get_memory_statistics("bad")
    assert bad["tiers"]["stm"]["count"] == 5 and bad["maintenance_failures"] == 1
    assert system.get_memory_statistics("first")["maintenance_failures"] == 0
    assert any("'bad'" in r.getMessage() and type(error).__name__ in r.getMessage() for r in caplog.records)
    assert system.force_memory_maintenance("bad") == {"forgotten": 0, "stm_to_im": 0, "im_to_ltm": 0}
    assert system.get_memory_statistics("bad")["maintenance_failures"] == 2


@BOTH
def test_a_store_whose_maintenance_fails_still_returns_its_id(make_backend_system, monkeypatch, caplog):
    system = make_backend_system(stm_limit=2, cleanup_interval=3)
    _failing_for(monkeypatch, "bad", ValueError("boom"))
    with caplog.at_level(logging.WARNING, logger="memory"):
        ids = [system.store_agent_state("bad", {"x": i}, i) for i in range(7)]
        ids += system.store_agent_states("bad", [{"x": 7}, {"x": 8}, {"x": 9}])
    assert [system.retrieve_state(m)["content"]["x"] for m in ids] == list(range(10))
    st = system.get_memory_statistics("bad")
    assert st["maintenance_failures"] == 3  # retried every cleanup_interval stores, not on every store
    assert sum("'bad'" in r.getMessage() for r in caplog.records) == 3
    monkeypatch.undo()
    for x in (10, 11, 12):
        system.store_agent_state("bad", {"x": x}, x)
    assert system.get_memory_statistics("bad")["tiers"]["stm"]["count"] <= 2  # healthy again: maintenance ran


def test_an_unreachable_store_is_not_one_agents_fault(system, monkeypatch):
    """force_memory_maintenance reports a store that is down (StorageError) instead of logging per agent."""
    system.store_agent_states("a", [{"x": 1}])
    system.store_agent_states("b", [{"x": 1}])
    _failing_for(monkeypatch, "a", StorageError("Redis at x is unreachable"))
    with pytest.raises(StorageError):
        system.force_memory_maintenance()


def test_errors_stay_typed_for_callers():
    assert issubclass(InvalidValueError, (AgentMemoryError, ValueError))
