"""One write path (issue #11): single and batch stores make the same records, with the config's current
importance weights, into any tier; a failed store leaves nothing behind that changes the next one."""

from __future__ import annotations

import numpy as np
import pytest

from memory import AgentMemorySystem, MemoryConfig
from memory.embeddings.encoder import Features, StateEncoder
from memory.importance import importance_score


def _importance(system: AgentMemorySystem, mid: str) -> float:
    return system.retrieve_state(mid)["metadata"]["importance"]


@pytest.mark.parametrize("tier", ["stm", "im", "ltm"])
def test_weights_changed_after_construction_apply_to_single_and_batch_stores(make_backend_system, tier):
    """The bug this issue names: after `config.importance_weights.priority = 2.0` the single store kept
    the weight cached at construction (importance 1.0) while the batch store used 2.0."""
    system = make_backend_system()
    system.config.importance_weights.priority = 2.0
    system.config.importance_weights.reward = 3.0
    plain, rewarded = {"x": 1}, {"x": 2, "reward": 0.5}
    one = [system.store_agent_state("a", s, step, priority=0.5, tier=tier) for step, s in enumerate((plain, rewarded))]
    many = system.store_agent_states("a", [plain, rewarded], [10, 11], [0.5, 0.5], tier=tier)
    want = [importance_score(s, 0.5, system.config.importance_weights) for s in (plain, rewarded)]
    assert want == [1.0, 1.0 + 3.0 * np.tanh(0.5)]
    assert [_importance(system, m) for m in one] == pytest.approx(want, rel=1e-6)
    assert [_importance(system, m) for m in many] == pytest.approx(want, rel=1e-6)


def test_single_and_batch_stores_make_the_same_records(make_backend_system, states):
    """Both paths store the same content, step, type, priority, importance and size, and index the same
    vector (a similarity search finds each memory of either path with similarity 1)."""
    system = make_backend_system()
    batch = states(6, complexity=3, seed=4)
    singles = [system.store_agent_action("a", s, step, priority=0.25) for step, s in enumerate(batch)]
    many = system.store_agent_states("b", batch, range(6), [0.25] * 6, memory_type="action")
    for mid_one, mid_many, state in zip(singles, many, batch):
        one, other = system.retrieve_state(mid_one), system.retrieve_state(mid_many)
        assert one["content"] == other["content"] == state
        for key in ("step_number", "memory_type", "tier"):
            assert one[key] == other[key]
        for key in ("importance", "priority", "stored_bytes"):
            assert one["metadata"][key] == other["metadata"][key]
    for agent, ids in (("a", singles), ("b", many)):
        for mid, state in zip(ids, batch):
            hit = system.retrieve_similar_states(agent, state, k=1, tier="stm")[0]
            assert hit["memory_id"] == mid and hit["similarity"] == pytest.approx(1.0, abs=1e-5)


def test_features_keep_forgets_the_states_after_it():
    """The rollback of a failed single store: the next state's vector is what a fresh encoder gives it
    (before, only the end markers were dropped and the failed state's features leaked into the next)."""
    encoder = StateEncoder(384)
    a, failed, b = {"who": "a", "v": 1.5}, {"who": "failed", "w": [1, 2, 3]}, {"who": "b", "v": -2.0}
    feats = Features()
    encoder.add_features(a, feats)
    encoder.add_features(failed, feats)
    feats.keep(1)
    encoder.add_features(b, feats)
    fresh = Features()
    encoder.add_features_many([a, b], fresh)
    assert np.array_equal(encoder.vectors(feats), encoder.vectors(fresh))
    feats.keep(0)
    assert len(feats) == 0 and encoder.vectors(feats).shape == (0, 384)


def test_a_rejected_single_store_leaves_the_next_one_exact():
    """Bad content is refused before anything is stored; the agent's next memory is indexed exactly."""
    with AgentMemorySystem(MemoryConfig()) as system:
        good = {"k": "v", "n": 3}
        system.store_agent_state("a", {"k": "first"}, 0)
        with pytest.raises(Exception):
            system.store_agent_state("a", {"k": object()}, 1)
        mid = system.store_agent_state("a", good, 2)
        hit = system.retrieve_similar_states("a", good, k=1, tier="stm")[0]
        assert hit["memory_id"] == mid and hit["similarity"] == pytest.approx(1.0, abs=1e-6)
        assert system.get_memory_statistics("a")["tiers"]["stm"]["count"] == 2
