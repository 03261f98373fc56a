"""AgentMemory: tiered memory (STM, IM, LTM) for simulation agents.

Quick start::

    from memory import AgentMemorySystem, MemoryConfig
    with AgentMemorySystem(MemoryConfig()) as system:
        mid = system.store_agent_state("agent-1", {"position": [0, 1]}, step_number=0)
"""

from __future__ import annotations

from .config import (AutoencoderConfig, IMConfig, ImportanceWeights, LTMConfig, MemoryConfig,
                     STMConfig)
from .errors import (AgentMemoryError, ConfigError, CorruptDataError, InvalidMemoryError,
                     InvalidValueError, MemoryNotFoundError, StorageError)

__version__ = "0.1.0"

__all__ = [
    "AgentMemorySystem", "MemoryConfig", "STMConfig", "IMConfig", "LTMConfig", "AutoencoderConfig",
    "ImportanceWeights", "AgentMemoryError", "ConfigError", "StorageError", "CorruptDataError",
    "MemoryNotFoundError",
    "InvalidMemoryError", "InvalidValueError", "__version__",
]


def __getattr__(name: str):
    # The system pulls in numpy and sqlite3; import it on first use so `import memory` stays light.
    if name == "AgentMemorySystem":
        from .system import AgentMemorySystem
        return AgentMemorySystem
    raise AttributeError(f"module 'memory' has no attribute {name!r}")
