"""Compatibility path for code written against the seed (`from memory.core import AgentMemorySystem`)."""

from .config import MemoryConfig
from .system import AgentMemorySystem

__all__ = ["AgentMemorySystem", "MemoryConfig"]
