"""MemoryAPI: a thin, validating facade over AgentMemorySystem for agent code."""

from __future__ import annotations

from typing import Optional, Sequence

from .. import validation as check
from ..errors import InvalidMemoryError, MemoryNotFoundError
from ..system import AgentMemorySystem

__all__ = ["MemoryAPI"]


class MemoryAPI:
    """The system's methods with arguments checked up front; `get_memory` raises when an id is unknown."""

    def __init__(self, system: Optional[AgentMemorySystem] = None) -> None:
        """Over `system`, or the process-wide one (`AgentMemorySystem.get_instance()`) when None."""
        if system is not None and not isinstance(system, AgentMemorySystem):
            raise InvalidMemoryError(f"system must be an AgentMemorySystem or None; got {type(system).__name__}")
        self.system = system if system is not None else AgentMemorySystem.get_instance()

    def store_agent_state(self, agent_id: str, state_data: dict, step_number: int, priority: float = 1.0) -> str:
        """Store a state; returns its memory id."""
        return self.system.store_agent_state(check.agent_id(agent_id), check.content(state_data, "state_data"),
                                             check.step(step_number), check.priority(priority))

    def store_agent_action(self, agent_id: str, action_data: dict, step_number: int, priority: float = 1.0) -> str:
        """Store an action; returns its memory id."""
        return self.system.store_agent_action(check.agent_id(agent_id), check.content(action_data, "action_data"),
                                              check.step(step_number), check.priority(priority))

    def store_agent_interaction(self, agent_id: str, interaction_data: dict, step_number: int,
                                priority: float = 1.0) -> str:
        """Store an interaction; returns its memory id."""
        return self.system.store_agent_interaction(
            check.agent_id(agent_id), check.content(interaction_data, "interaction_data"),
            check.step(step_number), check.priority(priority))

    def store_agent_states(self, agent_id: str, states: Sequence[dict], step_numbers: Optional[Sequence[int]] = None,
                           priorities: Optional[Sequence[float]] = None) -> list[str]:
        """Store many states at once; returns their ids."""
        return self.system.store_agent_states(check.agent_id(agent_id), states, step_numbers, priorities)

    def retrieve_state(self, memory_id: str, agent_id: Optional[str] = None, tier: Optional[str] = None) -> Optional[dict]:
        """A memory by id, or None."""
        return self.system.retrieve_state(check.memory_id(memory_id), agent_id, check.tier(tier, allow_none=True))

    def get_memory(self, memory_id: str, agent_id: Optional[str] = None) -> dict:
        """A memory by id; MemoryNotFoundError when no tier holds it."""
        memory = self.retrieve_state(memory_id, agent_id)
        if memory is None:
            raise MemoryNotFoundError(f"no memory {memory_id!r}" + (f" for agent {agent_id!r}" if agent_id else ""))
        return memory

    def retrieve_similar_states(self, agent_id: str, query_state: dict, k: int = 5, tier: str = "all",
                                memory_type: Optional[str] = None, threshold: Optional[float] = None) -> list[dict]:
        """The k most similar memories, best first."""
        return self.system.retrieve_similar_states(
            check.agent_id(agent_id), check.content(query_state, "query_state"), check.positive_int(k, "k"),
            check.tier(tier, allow_all=True), check.memory_type(memory_type), check.threshold(threshold))

    def retrieve_by_time_range(self, agent_id: str, start_step: int, end_step: int,
                               memory_type: Optional[str] = None) -> list[dict]:
        """Memories in a step range, by step."""
        return self.system.retrieve_by_time_range(check.agent_id(agent_id), check.query_step(start_step, "start_step"),
                                                  check.query_step(end_step, "end_step"), check.memory_type(memory_type))

    def retrieve_by_attributes(self, agent_id: str, attributes: dict) -> list[dict]:
        """Memories whose content matches every attribute."""
        return self.system.retrieve_by_attributes(check.agent_id(agent_id), check.content(attributes, "attributes"))

    def memory_exists(self, memory_id: str, tier: Optional[str] = None) -> bool:
        """Whether a memory exists (in `tier`, or any)."""
        return self.system.memory_exists(check.memory_id(memory_id), check.tier(tier, allow_none=True))

    def force_memory_maintenance(self, agent_id: Optional[str] = None) -> dict:
        """Run tier transitions now."""
        return self.system.force_memory_maintenance(None if agent_id is None else check.agent_id(agent_id))

    def get_memory_statistics(self, agent_id: str) -> dict:
        """Per-tier counts, bytes and compression."""
        return self.system.get_memory_statistics(check.agent_id(agent_id))

    def clear_all_memories(self) -> None:
        """Delete every memory of the system."""
        self.system.clear_all_memories()
