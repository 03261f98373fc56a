"""Typed exceptions: everything the library raises on purpose derives from AgentMemoryError."""

from __future__ import annotations


class AgentMemoryError(Exception):
    """Root of every error AgentMemory raises on purpose."""


class ConfigError(AgentMemoryError, ValueError):
    """A configuration value is invalid; the message names the field and what is allowed."""


class StorageError(AgentMemoryError):
    """A store (SQLite file, Redis server) failed or cannot be reached."""


class CorruptDataError(StorageError):
    """Stored bytes cannot be decoded (a damaged record, row or model blob); names what is damaged.

    ``memory_id`` is the damaged memory's id, or None for data that belongs to no one memory."""

    def __init__(self, message: str, memory_id: "str | None" = None) -> None:
        super().__init__(message)
        self.memory_id = memory_id


class MemoryNotFoundError(AgentMemoryError, KeyError):
    """A memory id that was required to exist does not."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "memory not found"


class InvalidMemoryError(AgentMemoryError, TypeError):
    """Input of the wrong type: a non-dict state, a set, an object JSON cannot hold, a non-str key."""


class InvalidValueError(AgentMemoryError, ValueError):
    """Input of the right type but an invalid value: NaN, a negative step, an unknown tier."""
