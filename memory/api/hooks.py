"""Hooks that give an agent class memory: its observations become states, its actions actions.

    @install_memory_hooks
    class Forager:
        def __init__(self, agent_id, memory_system):
            self.agent_id, self.memory_system = agent_id, memory_system
        def act(self, observation):
            return {"move": "north"}

Each `observe(observation)` stores the observation as a state and each `act(observation)` stores
the observation (if not observed this step) and the returned action, at the agent's `step_number`,
which `act` then advances.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, TypeVar

from ..system import AgentMemorySystem

T = TypeVar("T", bound=type)


def _memory(agent: Any) -> AgentMemorySystem:
    system = getattr(agent, "memory_system", None)
    if system is None:
        system = AgentMemorySystem.get_instance()
        agent.memory_system = system
    return system


def _agent_id(agent: Any) -> str:
    agent_id = getattr(agent, "agent_id", None)
    if agent_id is None:
        agent_id = f"{type(agent).__name__}-{id(agent):x}"
        agent.agent_id = agent_id
    return str(agent_id)


def _step(agent: Any) -> int:
    return getattr(agent, "step_number", 0)


def install_memory_hooks(cls: T) -> T:
    """Class decorator: `observe` stores states, `act` stores actions; adds `step_number` and `recall`."""
    if cls.__dict__.get("__memory_hooks__", False):
        return cls
    original_observe: Optional[Callable] = getattr(cls, "observe", None)
    original_act: Optional[Callable] = getattr(cls, "act", None)

    def observe(self: Any, observation: Any, *args: Any, **kwargs: Any) -> Any:
        if self.__dict__.get("_memory_hook_active"):  # a hooked subclass calling super(): store once
            return original_observe(self, observation, *args, **kwargs) if original_observe else None
        self._memory_hook_active = True
        try:
            result = original_observe(self, observation, *args, **kwargs) if original_observe else None
        finally:
            self._memory_hook_active = False
        if isinstance(observation, dict):
            _memory(self).store_agent_state(_agent_id(self), observation, _step(self))
            self._observed_step = _step(self)
        return result

    def act(self: Any, observation: Any = None, *args: Any, **kwargs: Any) -> Any:
        if original_act is None:
            raise NotImplementedError(f"{type(self).__name__} must define act(observation)")
        if self.__dict__.get("_memory_hook_active"):  # a hooked subclass calling super(): store once
            return original_act(self, observation, *args, **kwargs)
        if isinstance(observation, dict) and getattr(self, "_observed_step", None) != _step(self):
            _memory(self).store_agent_state(_agent_id(self), observation, _step(self))
            self._observed_step = _step(self)
        self._memory_hook_active = True
        try:
            action = original_act(self, observation, *args, **kwargs)
        finally:
            self._memory_hook_active = False
        if action is not None:
            data = action if isinstance(action, dict) else {"action": action}
            _memory(self).store_agent_action(_agent_id(self), data, _step(self))
        self.step_number = _step(self) + 1
        return action

    def recall(self: Any, query: dict, k: int = 5, **kwargs: Any) -> list[dict]:
        """The agent's k memories most similar to `query`."""
        return _memory(self).retrieve_similar_states(_agent_id(self), query, k=k, **kwargs)

    if original_observe is not None:
        functools.update_wrapper(observe, original_observe)
    if original_act is not None:
        functools.update_wrapper(act, original_act)
    cls.observe = observe
    cls.act = act
    if not hasattr(cls, "recall"):
        cls.recall = recall
    if not hasattr(cls, "step_number"):
        cls.step_number = 0
    cls.__memory_hooks__ = True
    return cls


@install_memory_hooks
class BaseAgent:
    """A ready agent with memory: override `decide(observation)`; `act` stores what it sees and does."""

    def __init__(self, agent_id: str, memory_system: Optional[AgentMemorySystem] = None) -> None:
        self.agent_id = agent_id
        self.memory_system = memory_system if memory_system is not None else AgentMemorySystem.get_instance()
        self.step_number = 0

    def observe(self, observation: dict) -> None:
        """Take in an observation (stored as a state by the hook)."""

    def decide(self, observation: Any) -> Any:
        """The action for an observation; override it (default: no-op)."""
        return {"action": "noop"}

    def act(self, observation: Any = None) -> Any:
        """Decide and return an action (stored by the hook)."""
        return self.decide(observation)
