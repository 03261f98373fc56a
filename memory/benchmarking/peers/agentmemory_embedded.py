"""AgentMemory itself, embedded (``backend="memory"``): the implementation the others are measured against.

AgentMemory embeds states with its own encoder, so it is given the states, not the vectors: its STM
embedding of a state is the encoder output every other peer receives (the conformance tests check
the hits agree), and the cost of computing it is part of its store time. STM has room for everything
stored and maintenance never runs (``cleanup_interval`` beyond reach), so every memory stays in the
exact tier and nothing moves while it is measured; LTM is a SQLite file in the peer's directory.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .protocol import Batch, Hit, Peer, Query, Record, Scalar

#: STM and IM room, and a cleanup interval no workload reaches: nothing is moved or forgotten.
ROOM = 1 << 30


class AgentMemoryPeer(Peer):
    """AgentMemory on its embedded store (one in-process index per agent and tier)."""

    name = "agentmemory"
    description = "AgentMemory, embedded: STM in process, one exact index per agent; LTM SQLite (unused here)"
    exact = True
    persistent = False

    def _config(self) -> Any:
        """The MemoryConfig of this peer's system (the Redis peer adds its backend)."""
        from memory import MemoryConfig

        config = MemoryConfig()
        config.stm_config.memory_limit = ROOM
        config.im_config.memory_limit = ROOM
        config.cleanup_interval = ROOM
        config.ltm_config.db_path = str(self.directory / "ltm.db")
        return config

    def _open(self) -> None:
        from memory import AgentMemorySystem

        self.system = AgentMemorySystem(self._config())

    def _close(self) -> None:
        self.system.close()

    def _store(self, batch: Batch) -> List[str]:
        return self.system.store_agent_states(batch.agent_id, list(batch.states), [int(s) for s in batch.steps])

    def _read(self, memory_id: str) -> Optional[Record]:
        memory = self.system.retrieve_state(memory_id)
        return _record(memory) if memory is not None else None

    def _top_k(self, agent_id: str, query: Query, k: int) -> List[Hit]:
        hits = self.system.retrieve_similar_states(agent_id, query.state, k=k)
        return [Hit(_record(m), float(m["similarity"])) for m in hits]

    def _step_range(self, agent_id: str, start: int, end: int) -> List[Record]:
        return [_record(m) for m in self.system.retrieve_by_time_range(agent_id, start, end)]

    def _attribute_equal(self, agent_id: str, attributes: Dict[str, Scalar]) -> List[Record]:
        return [_record(m) for m in self.system.retrieve_by_attributes(agent_id, attributes)]


def _record(memory: Dict[str, Any]) -> Record:
    return Record(memory["memory_id"], memory["agent_id"], int(memory["step_number"]), memory["content"])
